import { Widget } from '@lumino/widgets';

import { IMlopsModel } from '../tokens';

/**
 * Shows what the server extension reports about itself (`/mlops/api/info`).
 */
export class InfoView extends Widget {
  constructor(model: IMlopsModel) {
    super();
    this._model = model;
    this.addClass('jp-mlops-info');

    const header = document.createElement('div');
    header.className = 'jp-mlops-info-header';
    this._version = document.createElement('span');
    this._version.className = 'jp-mlops-version';
    const refresh = document.createElement('button');
    refresh.className = 'jp-mlops-refresh jp-Button jp-mod-styled';
    refresh.textContent = 'Refresh';
    refresh.title = 'Ask the server again';
    refresh.addEventListener('click', () => {
      void this._model.refreshInfo();
    });
    header.append(this._version, refresh);

    this._details = document.createElement('dl');
    this._details.className = 'jp-mlops-info-details';
    this._error = document.createElement('div');
    this._error.className = 'jp-mlops-error jp-mlops-info-error';
    this._error.setAttribute('role', 'alert');

    this.node.append(header, this._details, this._error);
    model.infoChanged.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.infoChanged.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const { info, infoStatus, infoError } = this._model;
    this.node.dataset.status = infoStatus;
    this._details.replaceChildren();
    if (info) {
      this._version.textContent = `jupyter-mlops ${info.version}`;
      this._version.title = 'Version of the jupyter-mlops server extension';
      this._addDetail('Store', info.store);
      this._addDetail('Registry', info.registry_uri);
    } else if (infoStatus === 'loading' || infoStatus === 'idle') {
      this._version.textContent = 'jupyter-mlops …';
    } else {
      this._version.textContent = 'jupyter-mlops (server unavailable)';
    }
    if (infoError) {
      this._error.textContent = `Cannot get the MLOps server info: ${infoError}`;
      this._error.hidden = false;
    } else {
      this._error.textContent = '';
      this._error.hidden = true;
    }
  }

  private _addDetail(label: string, value: string): void {
    const term = document.createElement('dt');
    term.textContent = label;
    const description = document.createElement('dd');
    description.textContent = value;
    description.title = value;
    this._details.append(term, description);
  }

  private _model: IMlopsModel;
  private _version: HTMLSpanElement;
  private _details: HTMLDListElement;
  private _error: HTMLDivElement;
}
