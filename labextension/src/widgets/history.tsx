import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IRunRecord } from '../api';
import { IMlopsModel } from '../tokens';
import {
  ErrorLine,
  formatDuration,
  formatTime,
  formatValue,
  statusLabel,
  useSignals
} from './common';

/**
 * The History section: this notebook's runs, newest first; select two or
 * more to compare their parameters and metrics.
 */
export class HistoryWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _trans: TranslationBundle,
    private _metrics: () => string[]
  ) {
    super();
    this.addClass('jp-mlops-history');
    this.title.label = _trans.__('History');
  }

  render(): JSX.Element {
    return (
      <HistoryView
        model={this._model}
        trans={this._trans}
        metrics={this._metrics}
      />
    );
  }
}

function HistoryView(props: {
  model: IMlopsModel;
  trans: TranslationBundle;
  metrics: () => string[];
}): JSX.Element {
  const { model, trans } = props;
  useSignals(model.runs.changed);
  const [selected, setSelected] = React.useState<string[]>([]);
  const runs = model.runs.history;
  if (!runs.length) {
    return (
      <div className="jp-mlops-empty">
        <ErrorLine message={model.runs.historyError} />
        {model.runs.path === null
          ? trans.__('Open a notebook to see its runs.')
          : trans.__('No runs of this notebook yet.')}
      </div>
    );
  }
  const wanted = props.metrics();
  const shown = (record: IRunRecord) =>
    Object.entries(record.metrics ?? {}).filter(
      ([k]) => !wanted.length || wanted.includes(k)
    );
  const toggle = (id: string) =>
    setSelected(s => (s.includes(id) ? s.filter(x => x !== id) : [...s, id]));
  const compared = runs.filter(r => selected.includes(r.id));
  return (
    <div className="jp-mlops-history-body">
      <ErrorLine message={model.runs.historyError} />
      <ul className="jp-mlops-runs" aria-label={trans.__('Runs')}>
        {runs.map(listed => {
          // A run followed live is fresher than the listing.
          const record = model.runs.run(listed.id)?.record ?? listed;
          const status = model.runs.run(listed.id)?.status ?? listed.status;
          const cached = Object.entries(record.steps ?? {})
            .filter(([, s]) => s.status === 'cached')
            .map(([name]) => name);
          return (
            <li
              key={record.id}
              className="jp-mlops-run-item"
              data-run={record.id}
              data-status={status}
            >
              <label className="jp-mlops-run-item-head">
                <input
                  type="checkbox"
                  checked={selected.includes(record.id)}
                  onChange={() => toggle(record.id)}
                  aria-label={trans.__('Compare run %1', record.id)}
                />
                <span className={`jp-mlops-status-dot jp-mod-${status}`} />
                <span className="jp-mlops-run-item-status">
                  {statusLabel(trans, status)}
                </span>
                <span className="jp-mlops-run-item-time">
                  {formatTime(record.started_at)}
                </span>
                <span className="jp-mlops-run-item-duration">
                  {formatDuration(record.duration_s)}
                </span>
              </label>
              <button
                className="jp-mlops-link jp-mlops-run-item-show"
                onClick={() => void model.runs.show(record.id)}
                title={trans.__('Show this run on the pipeline')}
              >
                {record.id}
              </button>
              {Object.keys(record.parameters ?? {}).length ? (
                <div className="jp-mlops-run-item-params">
                  {Object.entries(record.parameters)
                    .map(([k, v]) => `${k}=${formatValue(v)}`)
                    .join(' ')}
                </div>
              ) : null}
              {shown(record).length ? (
                <div className="jp-mlops-run-item-metrics">
                  {shown(record)
                    .map(([k, v]) => `${k} ${formatValue(v)}`)
                    .join(' · ')}
                </div>
              ) : null}
              {cached.length ? (
                <div className="jp-mlops-run-item-cached">
                  {trans.__('cached: %1', cached.join(', '))}
                </div>
              ) : null}
            </li>
          );
        })}
      </ul>
      {compared.length >= 2 ? (
        <Compare runs={compared} trans={trans} metrics={wanted} />
      ) : (
        <div className="jp-mlops-hint">
          {trans.__('Select two or more runs to compare them.')}
        </div>
      )}
    </div>
  );
}

/**
 * Parameters and metrics of several runs side by side, and a bar per run
 * for each metric.
 */
function Compare(props: {
  runs: IRunRecord[];
  trans: TranslationBundle;
  metrics: string[];
}): JSX.Element {
  const { runs, trans } = props;
  const params = [
    ...new Set(runs.flatMap(r => Object.keys(r.parameters ?? {})))
  ];
  const metrics = [
    ...new Set(runs.flatMap(r => Object.keys(r.metrics ?? {})))
  ].filter(m => !props.metrics.length || props.metrics.includes(m));
  return (
    <div className="jp-mlops-compare">
      <table className="jp-mlops-compare-table">
        <thead>
          <tr>
            <th />
            {runs.map(r => (
              <th key={r.id} title={r.id}>
                {shortRunId(r.id)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {params.map(p => (
            <tr key={`p-${p}`} className="jp-mlops-compare-param">
              <th>{p}</th>
              {runs.map(r => (
                <td key={r.id}>{formatValue(r.parameters?.[p])}</td>
              ))}
            </tr>
          ))}
          {metrics.map(m => (
            <tr key={`m-${m}`} className="jp-mlops-compare-metric">
              <th>{m}</th>
              {runs.map(r => (
                <td key={r.id}>{formatValue(r.metrics?.[m])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {metrics.map(m => {
        // a run without this metric (or with a non-number) gets no bar, not a 0 bar
        const values = runs.map(r => {
          const v = r.metrics?.[m];
          return typeof v === 'number' && Number.isFinite(v) ? v : null;
        });
        const max = Math.max(...values.map(v => Math.abs(v ?? 0)), 1e-12);
        return (
          <figure key={m} className="jp-mlops-chart">
            <figcaption>{m}</figcaption>
            <svg
              width="100%"
              height={runs.length * 14}
              role="img"
              aria-label={trans.__('%1 per run', m)}
            >
              {runs.map((r, i) => (
                <g key={r.id}>
                  <rect
                    x="0"
                    y={i * 14 + 2}
                    height="10"
                    width={`${(Math.abs(values[i] ?? 0) / max) * 70}%`}
                    className="jp-mlops-chart-bar"
                  />
                  <text
                    x={`${(Math.abs(values[i] ?? 0) / max) * 70 + 2}%`}
                    y={i * 14 + 11}
                    className="jp-mlops-chart-label"
                  >
                    {`${shortRunId(r.id)} ${values[i] === null ? '—' : formatValue(values[i])}`}
                  </text>
                </g>
              ))}
            </svg>
          </figure>
        );
      })}
    </div>
  );
}

/** A run id without its date (``20261127-151303-847e45`` → ``151303-847e45``): runs
 * compared side by side are usually from the same day. */
function shortRunId(id: string): string {
  const match = /^\d{8}-(.+)$/.exec(id);
  return match ? match[1] : id;
}
