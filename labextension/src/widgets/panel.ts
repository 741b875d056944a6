import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import { AccordionPanel } from '@lumino/widgets';
import { Message } from '@lumino/messaging';

import { mlopsIcon } from '../icons';
import { IMlopsModel } from '../tokens';
import { HistoryWidget } from './history';
import { InfoWidget } from './info';
import { ModelsWidget } from './models';
import { ParametersWidget } from './parameters';
import { IPanelActions, PipelineWidget } from './pipeline';
import { IRunActions, RunWidget } from './run';
import { SchedulesWidget } from './schedules';

/**
 * The id of the MLOps side panel.
 */
export const PANEL_ID = 'jupyter-mlops:panel';

/**
 * The left-sidebar MLOps panel: one section per feature.
 */
export class MlopsPanel extends SidePanel {
  constructor(options: MlopsPanel.IOptions) {
    const { model, trans } = options;
    super({ translator: options.translator });
    this._model = model;
    this.id = PANEL_ID;
    this.addClass('jp-mlops-panel');
    this.title.icon = mlopsIcon;
    this.title.caption = trans.__('MLOps');
    this.node.setAttribute('aria-label', trans.__('MLOps'));

    this.header.addWidget(new InfoWidget(model, trans));
    this.addWidget(new PipelineWidget(model, options.actions, trans));
    this.addWidget(new ParametersWidget(model, trans));
    this.addWidget(new RunWidget(model, options.actions, trans));
    this.addWidget(new HistoryWidget(model, trans, options.historyMetrics));
    this.addWidget(
      new ModelsWidget(model, trans, options.rendermime, options.showRun)
    );
    this.addWidget(new SchedulesWidget(model, trans));
    // The graph and the run (its outcome, a publish's checks) need the room.
    (this.content as AccordionPanel).setRelativeSizes([
      4, 1.5, 2.5, 1.5, 1.5, 1
    ]);
  }

  get model(): IMlopsModel {
    return this._model;
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.pipeline.active = true;
    if (this._model.infoStatus === 'error') {
      void this._model.refreshInfo();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._model.pipeline.active = false;
  }

  private _model: IMlopsModel;
}

export namespace MlopsPanel {
  export interface IOptions {
    model: IMlopsModel;
    actions: IPanelActions & IRunActions;
    trans: TranslationBundle;
    translator?: any;
    rendermime: IRenderMimeRegistry | null;
    /** The metrics the history shows (all when empty). */
    historyMetrics: () => string[];
    /** Show a run (from a model version's link). */
    showRun: (runId: string) => void;
  }
}
