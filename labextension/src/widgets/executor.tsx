import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IExecutorInfo, IServerInfo } from '../api';

/** One line saying where a run executes, and its tooltip. */
function describe(
  executor: IExecutorInfo,
  trans: TranslationBundle
): { text: string; title: string } {
  if (executor.error) {
    const text = trans.__('Executor settings not usable: %1', executor.error);
    return { text, title: text };
  }
  if (executor.name === 'dask') {
    // the server shows addresses without credentials (ExecutorSpec.shown)
    let text = trans.__('Runs on Dask at %1', executor.scheduler ?? '?');
    if (executor.artifacts) {
      text += ` · ${trans.__('artifacts %1', executor.artifacts)}`;
    }
    return {
      text,
      title: trans.__(
        'Each step runs in a kernel on a worker of this Dask cluster; artifacts travel through the shared store (server settings MlopsExtension.executor, dask_scheduler, artifacts)'
      )
    };
  }
  return {
    text: trans.__('Runs on this machine'),
    title: trans.__(
      'Each step runs in a kernel on the Jupyter server’s machine (server setting MlopsExtension.executor)'
    )
  };
}

/**
 * The Run section's line that says where the next run executes: this machine
 * or the server's Dask cluster (and artifact store). When the server offers a
 * cluster besides its default, a choice between the two.
 */
export function ExecutorLine(props: {
  info: IServerInfo | null;
  chosen: 'local' | 'dask' | null;
  onChoose: (executor: 'local' | 'dask' | null) => void;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { info, chosen, onChoose, trans } = props;
  const byDefault = info?.executor;
  if (!byDefault) {
    return null; // not known yet, or an older server: it does not say
  }
  const cluster = info?.cluster ?? null;
  let executor: IExecutorInfo = byDefault;
  if (chosen === 'dask' && cluster) {
    executor = cluster;
  } else if (chosen === 'local') {
    executor = { name: 'local' };
  }
  const { text, title } = describe(executor, trans);
  const value = executor.name === 'dask' ? 'dask' : 'local';
  return (
    <div
      className={`jp-mlops-run-executor${executor.error ? ' jp-mlops-error' : ''}`}
      data-executor={executor.name}
    >
      {cluster && !byDefault.error ? (
        <select
          className="jp-mlops-run-executor-choice"
          aria-label={trans.__('Where the run executes')}
          value={value}
          onChange={e => {
            const picked = e.target.value as 'local' | 'dask';
            onChoose(picked === byDefault.name ? null : picked);
          }}
        >
          <option value="local">{trans.__('This machine')}</option>
          <option value="dask">{trans.__('Dask cluster')}</option>
        </select>
      ) : null}
      <span className="jp-mlops-run-executor-text" title={title}>
        {text}
      </span>
    </div>
  );
}
