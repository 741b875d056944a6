import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { FINISHED } from '../models/runs';
import { IMlopsModel } from '../tokens';
import {
  ErrorLine,
  formatDuration,
  statusLabel,
  useNow,
  useSignals
} from './common';
import { ExecutorLine } from './executor';
import { IPublishActions, PublishControls } from './publish';
import { IVerifyActions, VerifyButton, VerifyStatus } from './verify';

/**
 * What the Run section asks of the application.
 */
export interface IRunActions extends IPublishActions, IVerifyActions {
  /** Save the notebook (per setting) and start a run with the form values. */
  run(): Promise<void>;
}

/**
 * The Run section: Run / Cancel, the run's state, Publish.
 */
export class RunWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _actions: IRunActions,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-run');
    this.title.label = _trans.__('Run');
  }

  render(): JSX.Element {
    return (
      <RunView
        model={this._model}
        actions={this._actions}
        trans={this._trans}
      />
    );
  }
}

function RunView(props: {
  model: IMlopsModel;
  actions: IRunActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, actions, trans } = props;
  useSignals(model.runs.changed, model.pipeline.changed, model.infoChanged);
  const run = model.runs.current;
  const active = !!run && !FINISHED.includes(run.status);
  const now = useNow(active, 1000);
  const [starting, setStarting] = React.useState(false);
  const compiled = !!model.pipeline.result?.pipeline;
  const canRun =
    model.pipeline.path !== null && compiled && !starting && !active;

  const start = async () => {
    setStarting(true);
    try {
      await actions.run();
    } catch {
      // The model keeps the message (shown below).
    } finally {
      setStarting(false);
    }
  };

  let elapsed = '';
  if (run) {
    const started =
      run.startedAt ??
      (run.record.started_at ? Date.parse(run.record.started_at) : NaN);
    if (active && !Number.isNaN(started)) {
      elapsed = formatDuration(Math.max(0, (now - started) / 1000));
    } else if (run.record.duration_s !== null) {
      elapsed = formatDuration(run.record.duration_s);
    }
  }

  return (
    <div className="jp-mlops-run-body">
      <div className="jp-mlops-run-buttons">
        <button
          className="jp-mlops-run-button jp-Button jp-mod-styled jp-mod-accept"
          disabled={!canRun}
          onClick={() => void start()}
          title={trans.__('Run the pipeline of this notebook')}
        >
          {starting ? trans.__('Starting…') : trans.__('Run')}
        </button>
        <button
          className="jp-mlops-cancel-button jp-Button jp-mod-styled jp-mod-warn"
          disabled={!active}
          onClick={() => run && void model.runs.cancel(run.id)}
        >
          {trans.__('Cancel')}
        </button>
        <VerifyButton
          model={model}
          actions={actions}
          enabled={model.pipeline.path !== null && compiled}
          trans={trans}
        />
      </div>
      <ExecutorLine
        info={model.info}
        chosen={model.runs.executor}
        onChoose={executor => model.runs.setExecutor(executor)}
        trans={trans}
      />
      <VerifyStatus model={model} trans={trans} />
      <ErrorLine className="jp-mlops-run-error" message={model.runs.error} />
      {run ? (
        <div
          className="jp-mlops-run-status"
          data-status={run.status}
          data-run={run.id}
          aria-live="polite"
        >
          <span className={`jp-mlops-status-dot jp-mod-${run.status}`} />
          {trans.__('Run %1: %2', run.id, statusLabel(trans, run.status))}
          {elapsed ? ` · ${elapsed}` : ''}
        </div>
      ) : null}
      {run?.error ? (
        <ErrorLine className="jp-mlops-run-failure" message={run.error} />
      ) : null}
      {run && run.status === 'succeeded' && run.record.metrics ? (
        <div className="jp-mlops-run-metrics">
          {Object.entries(run.record.metrics)
            .map(
              ([k, v]) =>
                `${k} = ${typeof v === 'number' ? v.toPrecision(4) : v}`
            )
            .join(' · ')}
        </div>
      ) : null}
      {run ? (
        <PublishControls
          model={model}
          run={run.record}
          actions={actions}
          trans={trans}
        />
      ) : null}
    </div>
  );
}
