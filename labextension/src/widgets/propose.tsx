import { TranslationBundle } from '@jupyterlab/translation';
import { Button, HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ISplitResult, SplitBy } from '../api';
import { IMlopsModel } from '../tokens';
import { ErrorLine, useReveal, useSignals } from './common';
import { DagView } from './dag';

/**
 * Propose steps for a notebook without step tags (in the Pipeline section):
 * the proposed DAG, its steps and warnings, Accept / Cancel; after an accept,
 * Undo restores every cell's previous tags.
 */
export function ProposalView(props: {
  model: IMlopsModel;
  /** Whether to offer a proposal (the notebook has no step tags). */
  offer: boolean;
  trans: TranslationBundle;
  onSelectCell: (index: number) => void;
}): JSX.Element | null {
  const { model, offer, trans } = props;
  const proposal = model.proposal;
  useSignals(proposal.changed);
  const { status, result } = proposal;
  const ref = React.useRef<HTMLDivElement>(null);
  const appliedRef = React.useRef<HTMLDivElement>(null);
  const canUndo = proposal.canUndo;
  // The section has a fixed height: bring the proposal (its buttons first)
  // into view, and the Undo bar (again once the tags compiled: the lines
  // above it change).
  useReveal(ref, result ? `proposal:${result.message}` : null);
  useReveal(appliedRef, canUndo ? `applied:${offer}` : null);

  const problem =
    proposal.problem === 'changed'
      ? trans.__(
          'The notebook’s cells changed since the proposal: propose again.'
        )
      : proposal.problem === 'closed'
        ? trans.__('The notebook is not open any more: propose again.')
        : null;

  if (result) {
    return (
      <div
        ref={ref}
        className="jp-mlops-proposal"
        role="region"
        aria-label={trans.__('Proposed steps')}
      >
        <ProposalBody
          result={result}
          trans={trans}
          onSelectCell={props.onSelectCell}
          onAccept={() => proposal.accept()}
          onCancel={() => proposal.cancel()}
        />
      </div>
    );
  }

  const applied = canUndo ? (
    <div ref={appliedRef} className="jp-mlops-proposal-applied" role="status">
      <span>{trans.__('Step tags set from the proposal.')}</span>
      <span className="jp-mlops-proposal-buttons">
        <Button
          className="jp-mlops-proposal-undo jp-mod-styled jp-mod-reject"
          small
          onClick={() => proposal.undo()}
          title={trans.__('Restore every cell’s tags as before the accept')}
        >
          {trans.__('Undo')}
        </Button>
        <Button
          className="jp-mlops-proposal-keep jp-mod-styled"
          small
          minimal
          onClick={() => proposal.keep()}
        >
          {trans.__('Keep')}
        </Button>
      </span>
    </div>
  ) : null;

  if (!offer && status !== 'error' && status !== 'loading') {
    return applied;
  }
  const loading = status === 'loading';
  return (
    <>
      {applied}
      <div ref={ref} className="jp-mlops-propose">
        <label className="jp-mlops-propose-by">
          {trans.__('By')}
          <HTMLSelect
            className="jp-mlops-propose-by-select"
            value={proposal.by}
            disabled={loading}
            aria-label={trans.__('Split the notebook by')}
            onChange={event =>
              (proposal.by = event.currentTarget.value as SplitBy)
            }
            options={[
              { value: 'auto', label: trans.__('auto') },
              { value: 'h2', label: trans.__('H2 sections') },
              { value: 'h1', label: trans.__('H1 sections') }
            ]}
          />
        </label>
        <Button
          className="jp-mlops-propose-button jp-mod-styled jp-mod-accept"
          small
          disabled={loading}
          onClick={() => void proposal.propose()}
          title={trans.__(
            'Propose step tags from the notebook’s headings (nothing is written until you accept)'
          )}
        >
          {loading ? trans.__('Proposing…') : trans.__('Propose steps')}
        </Button>
      </div>
      <ErrorLine
        className="jp-mlops-proposal-error"
        message={proposal.error ?? problem}
      />
    </>
  );
}

function ProposalBody(props: {
  result: ISplitResult;
  trans: TranslationBundle;
  onSelectCell: (index: number) => void;
  onAccept: () => void;
  onCancel: () => void;
}): JSX.Element {
  const { result, trans } = props;
  const selectStep = (name: string) => {
    const step = result.steps.find(s => s.name === name);
    if (step?.cells.length) {
      props.onSelectCell(step.cells[0]);
    }
  };
  return (
    <>
      <div className="jp-mlops-proposal-head">
        <span className="jp-mlops-proposal-message">
          {result.message ||
            trans._n(
              '%1 step proposed',
              '%1 steps proposed',
              result.steps.length
            )}
        </span>
        <span className="jp-mlops-proposal-buttons">
          <Button
            className="jp-mlops-proposal-accept jp-mod-styled jp-mod-accept"
            small
            onClick={props.onAccept}
            title={trans.__(
              'Write these tags into the notebook’s cells (undo restores them)'
            )}
          >
            {trans.__('Accept')}
          </Button>
          <Button
            className="jp-mlops-proposal-cancel jp-mod-styled jp-mod-reject"
            small
            onClick={props.onCancel}
          >
            {trans.__('Cancel')}
          </Button>
        </span>
      </div>
      {result.pipeline && result.pipeline.steps.length ? (
        <DagView
          pipeline={result.pipeline}
          states={null}
          highlighted={null}
          trans={trans}
          onSelect={selectStep}
        />
      ) : null}
      <ol
        className="jp-mlops-proposal-steps"
        aria-label={trans.__('Proposed steps')}
      >
        {result.steps.map(step => (
          <li
            key={step.name}
            className="jp-mlops-proposal-step"
            data-step={step.name}
          >
            <button
              className="jp-mlops-link jp-mlops-step-name"
              onClick={() => selectStep(step.name)}
              title={trans.__('Select the first cell of step %1', step.name)}
            >
              {step.name}
            </button>
            <span className="jp-mlops-step-details">
              {[
                step.heading ? `“${step.heading}”` : null,
                trans._n('%1 cell', '%1 cells', step.cells.length),
                step.depends_on.length
                  ? trans.__('after %1', step.depends_on.join(', '))
                  : null
              ]
                .filter(Boolean)
                .join(' · ')}
            </span>
          </li>
        ))}
      </ol>
      {result.warnings.length ? (
        <ul
          className="jp-mlops-warnings jp-mlops-proposal-warnings"
          aria-label={trans.__('Warnings')}
        >
          {result.warnings.map((warning, i) => (
            <li
              key={i}
              className="jp-mlops-problem jp-mod-warning"
              data-cell={warning.cell ?? ''}
            >
              {warning.cell !== null && warning.cell !== undefined ? (
                <button
                  className="jp-mlops-link"
                  title={trans.__('Select cell %1', warning.cell)}
                  onClick={() => props.onSelectCell(warning.cell!)}
                >
                  {warning.message}
                </button>
              ) : (
                <span>{warning.message}</span>
              )}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
