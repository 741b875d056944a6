import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { mlopsIcon } from '../icons';
import { IMlopsModel } from '../tokens';
import { InfoView } from './info';
import { PipelineView } from './pipeline';

/**
 * The id of the MLOps side panel.
 */
export const PANEL_ID = 'jupyter-mlops:panel';

/**
 * The left-sidebar MLOps panel: server info, then the current pipeline.
 */
export class MlopsPanel extends Panel {
  constructor(model: IMlopsModel) {
    super();
    this._model = model;
    this.id = PANEL_ID;
    this.addClass('jp-mlops-panel');
    this.title.icon = mlopsIcon;
    this.title.caption = 'MLOps';
    this.title.label = '';
    this.node.setAttribute('aria-label', 'MLOps');

    const header = new Widget();
    header.addClass('jp-mlops-panel-header');
    const heading = document.createElement('h2');
    heading.textContent = 'MLOps';
    header.node.append(heading);

    this.addWidget(header);
    this.addWidget(new InfoView(model));
    this.addWidget(new PipelineView(model));
  }

  get model(): IMlopsModel {
    return this._model;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.active = true;
    if (this._model.infoStatus === 'error') {
      void this._model.refreshInfo();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.active = false;
  }

  private _model: IMlopsModel;
}
