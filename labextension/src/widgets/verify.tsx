import { TranslationBundle } from '@jupyterlab/translation';
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IVerifyResult } from '../api';
import { IMlopsModel } from '../tokens';
import {
  ErrorLine,
  formatDuration,
  useNow,
  useReveal,
  useSignals
} from './common';

/**
 * What Verify asks of the application.
 */
export interface IVerifyActions {
  /**
   * Save the notebook (per setting) and verify it with the form's parameter
   * values.
   */
  verify(): Promise<void>;
}

/**
 * The Verify button (next to Run): run the notebook and its pipeline and
 * compare what they compute.
 */
export function VerifyButton(props: {
  model: IMlopsModel;
  actions: IVerifyActions;
  /** Whether the notebook compiles into a pipeline. */
  enabled: boolean;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, actions, enabled, trans } = props;
  useSignals(model.verify.changed);
  const busy = model.verify.status === 'loading';
  if (model.verify.path === null) {
    return null;
  }
  return (
    <Button
      className="jp-mlops-verify-button jp-mod-styled"
      disabled={!enabled || busy}
      onClick={() => void actions.verify().catch(() => undefined)}
      title={trans.__(
        'Run the notebook top to bottom and its pipeline, and compare every step’s outputs and metrics'
      )}
    >
      {busy ? trans.__('Verifying…') : trans.__('Verify')}
    </Button>
  );
}

/**
 * What Verify is doing or found (under the Run buttons, scrolled into view
 * when it arrives: the section has a fixed height).
 */
export function VerifyStatus(props: {
  model: IMlopsModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  const verify = model.verify;
  useSignals(verify.changed);
  const { status, result, error, startedAt } = verify;
  const busy = status === 'loading';
  const now = useNow(busy, 500);
  const ref = React.useRef<HTMLDivElement>(null);
  // The section has a fixed height: the outcome must be in view.
  useReveal(
    ref,
    status === 'ready' || status === 'error'
      ? `${verify.path}:${startedAt}:${result?.message ?? error}`
      : null
  );

  if (verify.path === null || status === 'idle') {
    return null;
  }
  return (
    <div ref={ref} className="jp-mlops-verify" data-status={status}>
      {busy ? (
        <div className="jp-mlops-verify-busy" aria-live="polite">
          <span className="jp-mlops-status-dot jp-mod-running" />
          {trans.__('Verifying: running the notebook and the pipeline')}
          {startedAt !== null
            ? ` · ${formatDuration(Math.max(0, (now - startedAt) / 1000))}`
            : ''}
        </div>
      ) : null}
      <ErrorLine className="jp-mlops-verify-error" message={error} />
      {result && !busy ? <VerifyOutcome result={result} trans={trans} /> : null}
    </div>
  );
}

function VerifyOutcome(props: {
  result: IVerifyResult;
  trans: TranslationBundle;
}): JSX.Element {
  const { result, trans } = props;
  const diff = result.difference;
  const seconds = result.seconds;
  // The server's line starts with "equal:" / "differs:": said once, in bold.
  const message = (result.message ?? '').replace(
    /^(equal|differs)\s*:\s*/i,
    ''
  );
  return (
    <div
      className={`jp-mlops-verify-result ${result.equal ? 'jp-mod-equal' : 'jp-mlops-error jp-mod-differs'}`}
      data-equal={result.equal ? 'true' : 'false'}
      role={result.equal ? 'status' : 'alert'}
    >
      <div className="jp-mlops-verify-message">
        <strong>
          {result.equal ? trans.__('equal') : trans.__('differs')}
        </strong>
        {message ? `: ${message}` : ''}
      </div>
      {diff ? (
        <dl className="jp-mlops-verify-difference">
          <dt>{trans.__('Variable')}</dt>
          <dd className="jp-mlops-verify-variable">{diff.variable}</dd>
          <dt>{trans.__('Step')}</dt>
          <dd className="jp-mlops-verify-step">{diff.step}</dd>
          <dt>{trans.__('Notebook')}</dt>
          <dd>
            <code>{diff.notebook_value}</code>
          </dd>
          <dt>{trans.__('Pipeline')}</dt>
          <dd>
            <code>{diff.pipeline_value}</code>
          </dd>
          <dt>{trans.__('Cause')}</dt>
          <dd className="jp-mlops-verify-cause">{diff.cause}</dd>
          <dt>{trans.__('Fix')}</dt>
          <dd className="jp-mlops-verify-fix">{diff.fix}</dd>
        </dl>
      ) : null}
      {seconds ? (
        <div className="jp-mlops-verify-times">
          {trans.__(
            'notebook %1 · pipeline %2 · wall %3',
            formatDuration(seconds.notebook),
            formatDuration(seconds.pipeline),
            formatDuration(seconds.wall)
          )}
        </div>
      ) : null}
    </div>
  );
}
