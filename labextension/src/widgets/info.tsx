import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMlopsModel } from '../tokens';
import { useSignals } from './common';

/**
 * The panel header: what the server extension reports about itself.
 */
export class InfoWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-info');
  }

  render(): JSX.Element {
    return <InfoView model={this._model} trans={this._trans} />;
  }
}

function InfoView(props: {
  model: IMlopsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useSignals(model.infoChanged);
  const { info, infoStatus, infoError } = model;
  let version = 'jupyter-mlops …';
  if (info) {
    version = `jupyter-mlops ${info.version}`;
  } else if (infoStatus === 'error') {
    version = trans.__('jupyter-mlops (server unavailable)');
  }
  return (
    <div data-status={infoStatus}>
      <h2>{trans.__('MLOps')}</h2>
      <div className="jp-mlops-info-header">
        <span
          className="jp-mlops-version"
          title={trans.__('Version of the jupyter-mlops server extension')}
        >
          {version}
        </span>
        <button
          className="jp-mlops-refresh jp-Button jp-mod-styled"
          title={trans.__('Ask the server again')}
          onClick={() => void model.refreshInfo()}
        >
          {trans.__('Refresh')}
        </button>
      </div>
      {info ? (
        <details className="jp-mlops-info-more">
          <summary>{trans.__('Store and registry')}</summary>
          <dl className="jp-mlops-info-details">
            <dt>{trans.__('Store')}</dt>
            <dd title={info.store}>{info.store}</dd>
            <dt>{trans.__('Registry')}</dt>
            <dd title={info.registry_uri}>{info.registry_uri}</dd>
          </dl>
        </details>
      ) : null}
      {infoError ? (
        <div className="jp-mlops-error jp-mlops-info-error" role="alert">
          {trans.__('Cannot get the MLOps server info: %1', infoError)}
        </div>
      ) : null}
    </div>
  );
}
