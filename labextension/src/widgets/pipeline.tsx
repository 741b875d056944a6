import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IPipelineStep, IProblem } from '../api';
import { IStepState } from '../models/runs';
import { IMlopsModel } from '../tokens';
import {
  ErrorLine,
  formatDuration,
  statusLabel,
  useNow,
  useReveal,
  useSignals
} from './common';
import { DagView } from './dag';

/**
 * What the panel asks of the application (kept out of the models).
 */
export interface IPanelActions {
  /** Select and scroll to cell `index` of the followed notebook. */
  selectCell(index: number): void;
  /** Open a run step's executed notebook read-only (at its failing cell). */
  openStepNotebook(runId: string, step: string): void;
}

/**
 * The Pipeline section: the DAG of the notebook as it is being edited, its
 * compile problems, and every step with its state in the run shown.
 */
export class PipelineWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _actions: IPanelActions,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-pipeline');
    this.title.label = _trans.__('Pipeline');
  }

  render(): JSX.Element {
    return (
      <PipelineView
        model={this._model}
        actions={this._actions}
        trans={this._trans}
      />
    );
  }
}

function PipelineView(props: {
  model: IMlopsModel;
  actions: IPanelActions;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, actions, trans } = props;
  const pipelineModel = model.pipeline;
  useSignals(pipelineModel.changed, model.runs.changed);
  const { path, status, error, result } = pipelineModel;
  const run = model.runs.current;
  const pipeline = result?.pipeline ?? null;

  if (path === null) {
    return (
      <div className="jp-mlops-pipeline-status">
        {trans.__('Open a notebook to see its pipeline.')}
      </div>
    );
  }

  const selectStep = (name: string) => {
    pipelineModel.selectedStep = name;
    const step = pipelineModel.step(name);
    if (step && step.cells.length) {
      actions.selectCell(step.cells[0]);
    }
  };

  let summary = '';
  if (status === 'loading' && !pipeline) {
    summary = trans.__('Compiling…');
  } else if (status === 'error') {
    summary = trans.__('The notebook does not compile:');
  } else if (pipeline) {
    const count = pipeline.steps.length;
    const params = Object.keys(pipeline.parameters ?? {});
    const parts = [trans._n('%1 step', '%1 steps', count)];
    if (params.length) {
      parts.push(trans.__('parameters: %1', params.join(', ')));
    }
    if (pipeline.model?.variable) {
      parts.push(
        trans.__('model: %1', pipeline.model.variable) +
          (pipeline.model.step ? ` (${pipeline.model.step})` : '')
      );
    }
    if (pipeline.metrics?.length) {
      parts.push(trans.__('metrics: %1', pipeline.metrics.join(', ')));
    }
    summary = parts.join(' · ');
  } else if (result) {
    summary = trans.__('The notebook does not compile:');
  }

  const untagged =
    pipeline?.steps.length === 1 && pipeline.steps[0].name === 'main';
  const highlighted = pipelineModel.selectedStep ?? pipelineModel.activeStep;

  return (
    <div className="jp-mlops-pipeline-body" data-status={status}>
      <div className="jp-mlops-pipeline-notebook" title={path}>
        {path}
      </div>
      <div className="jp-mlops-pipeline-status">{summary}</div>
      <ErrorLine className="jp-mlops-pipeline-error" message={error} />
      <ProblemList
        kind="error"
        problems={result?.errors ?? []}
        trans={trans}
        onSelect={actions.selectCell}
      />
      {untagged ? (
        <div className="jp-mlops-hint">
          {trans.__(
            'One step: tag the first cell of each step "step:NAME" to split the notebook.'
          )}
        </div>
      ) : null}
      {pipeline && pipeline.steps.length ? (
        <DagView
          pipeline={pipeline}
          states={run?.steps ?? null}
          highlighted={highlighted}
          trans={trans}
          onSelect={selectStep}
        />
      ) : null}
      {pipeline ? (
        <ol className="jp-mlops-steps" aria-label={trans.__('Steps')}>
          {pipeline.steps.map(step => (
            <StepItem
              key={step.name}
              step={step}
              state={run?.steps[step.name] ?? null}
              runId={run?.id ?? null}
              highlighted={highlighted === step.name}
              trans={trans}
              actions={actions}
              onSelect={selectStep}
            />
          ))}
        </ol>
      ) : null}
      <ProblemList
        kind="warning"
        problems={result?.warnings ?? []}
        trans={trans}
        onSelect={actions.selectCell}
      />
    </div>
  );
}

function ProblemList(props: {
  kind: 'error' | 'warning';
  problems: IProblem[];
  trans: TranslationBundle;
  onSelect: (cell: number) => void;
}): JSX.Element | null {
  const { kind, problems, trans } = props;
  if (!problems.length) {
    return null;
  }
  return (
    <ul
      className={kind === 'error' ? 'jp-mlops-problems' : 'jp-mlops-warnings'}
      aria-label={kind === 'error' ? trans.__('Errors') : trans.__('Warnings')}
    >
      {problems.map((problem, i) => (
        <li
          key={i}
          className={`jp-mlops-problem jp-mod-${kind}`}
          data-cell={problem.cell ?? ''}
        >
          {problem.cell !== null && problem.cell !== undefined ? (
            <button
              className="jp-mlops-link"
              title={trans.__('Select cell %1', problem.cell)}
              onClick={() => props.onSelect(problem.cell!)}
            >
              {problem.message}
            </button>
          ) : (
            <span>{problem.message}</span>
          )}
        </li>
      ))}
    </ul>
  );
}

function StepItem(props: {
  step: IPipelineStep;
  state: IStepState | null;
  runId: string | null;
  highlighted: boolean;
  trans: TranslationBundle;
  actions: IPanelActions;
  onSelect: (name: string) => void;
}): JSX.Element {
  const { step, state, runId, trans, actions } = props;
  const running = state?.status === 'running';
  const failureRef = React.useRef<HTMLDivElement>(null);
  useReveal(
    failureRef,
    state?.status === 'failed' ? `${runId}:${step.name}:${state.error}` : null
  );
  const now = useNow(running);
  const details: string[] = [];
  const cells = step.cells ?? [];
  details.push(trans._n('%1 cell', '%1 cells', cells.length));
  if (step.upstream?.length) {
    details.push(trans.__('after %1', step.upstream.join(', ')));
  }
  const inputs = Object.keys(step.inputs ?? {});
  if (inputs.length) {
    details.push(trans.__('in: %1', inputs.join(', ')));
  }
  if (step.outputs?.length) {
    details.push(trans.__('out: %1', step.outputs.join(', ')));
  }
  let stateText = '';
  if (state) {
    stateText = statusLabel(trans, state.status);
    if (running && state.startedAt !== null) {
      stateText += ` ${formatDuration(Math.max(0, (now - state.startedAt) / 1000))}`;
    } else if (state.duration_s !== null && state.status !== 'pending') {
      stateText += ` ${formatDuration(state.duration_s)}`;
    }
  }
  return (
    <li
      className={`jp-mlops-step${props.highlighted ? ' jp-mod-highlighted' : ''}`}
      data-step={step.name}
      data-status={state?.status ?? 'none'}
      data-history={state?.history.join(',') ?? ''}
    >
      <div className="jp-mlops-step-row">
        <span
          className={`jp-mlops-status-dot jp-mod-${state?.status ?? 'none'}`}
        />
        <button
          className="jp-mlops-link jp-mlops-step-name"
          onClick={() => props.onSelect(step.name)}
          title={trans.__('Select the first cell of step %1', step.name)}
        >
          {step.name}
        </button>
        <span className="jp-mlops-step-state" aria-live="polite">
          {stateText}
        </span>
      </div>
      <span className="jp-mlops-step-details">{details.join(' · ')}</span>
      {state?.status === 'failed' ? (
        <div className="jp-mlops-step-failure" ref={failureRef}>
          <span className="jp-mlops-step-error">
            {state.error ?? trans.__('failed')}
          </span>{' '}
          {runId ? (
            <button
              className="jp-mlops-link jp-mlops-open-step"
              onClick={() => actions.openStepNotebook(runId, step.name)}
            >
              {trans.__('Open the executed notebook')}
            </button>
          ) : null}
        </div>
      ) : null}
      {state?.reason && state.status !== 'failed' ? (
        <div className="jp-mlops-step-reason">{state.reason}</div>
      ) : null}
      {running && state?.lines.length ? (
        <pre className="jp-mlops-step-output">
          {state.lines.slice(-5).join('\n')}
        </pre>
      ) : null}
    </li>
  );
}
