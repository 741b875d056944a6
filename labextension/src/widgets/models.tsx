import { Dialog, showDialog } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IModelVersion, IRegisteredModel } from '../api';
import { IMlopsModel } from '../tokens';
import { ErrorLine, formatTime, formatValue, useSignals } from './common';

/**
 * The Models section: registered models, versions with metrics and aliases,
 * alias changes (confirmed) and their history, the model card.
 */
export class ModelsWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _trans: TranslationBundle,
    private _rendermime: IRenderMimeRegistry | null,
    private _showRun: (runId: string) => void
  ) {
    super();
    this.addClass('jp-mlops-models');
    this.title.label = _trans.__('Models');
  }

  protected onAfterShow(): void {
    void this._model.registry.refresh();
  }

  render(): JSX.Element {
    return (
      <ModelsView
        model={this._model}
        trans={this._trans}
        rendermime={this._rendermime}
        showRun={this._showRun}
      />
    );
  }
}

function ModelsView(props: {
  model: IMlopsModel;
  trans: TranslationBundle;
  rendermime: IRenderMimeRegistry | null;
  showRun: (runId: string) => void;
}): JSX.Element {
  const { trans } = props;
  const registry = props.model.registry;
  useSignals(registry.changed);
  React.useEffect(() => {
    void registry.refresh();
  }, []);
  const selected = registry.selected;
  return (
    <div className="jp-mlops-models-body">
      <div className="jp-mlops-models-head">
        <select
          className="jp-mlops-model-select jp-mod-styled"
          aria-label={trans.__('Model')}
          value={selected?.name ?? ''}
          onChange={e => void registry.select(e.target.value || null)}
        >
          <option value="">
            {registry.models.length
              ? trans.__('Choose a model…')
              : trans.__('No registered models')}
          </option>
          {registry.models.map(m => (
            <option key={m.name} value={m.name}>
              {m.name}
            </option>
          ))}
        </select>
        <button
          className="jp-mlops-models-refresh jp-Button jp-mod-styled"
          onClick={() => void registry.refresh()}
        >
          {trans.__('Refresh')}
        </button>
      </div>
      <ErrorLine className="jp-mlops-models-error" message={registry.error} />
      {selected?.versions ? (
        <ModelDetail
          model={selected}
          history={registry.history}
          trans={trans}
          rendermime={props.rendermime}
          showRun={props.showRun}
          setAlias={(alias, version) =>
            registry.setAlias(selected.name, alias, version)
          }
          deleteAlias={alias => registry.deleteAlias(selected.name, alias)}
        />
      ) : null}
    </div>
  );
}

function ModelDetail(props: {
  model: IRegisteredModel;
  history: { [key: string]: any }[];
  trans: TranslationBundle;
  rendermime: IRenderMimeRegistry | null;
  showRun: (runId: string) => void;
  setAlias: (alias: string, version: number) => Promise<void>;
  deleteAlias: (alias: string) => Promise<void>;
}): JSX.Element {
  const { model, trans } = props;
  const [alias, setAliasName] = React.useState('');
  const [version, setVersion] = React.useState<number>(
    model.versions[0]?.version ?? 0
  );
  React.useEffect(() => {
    setVersion(model.versions[0]?.version ?? 0);
  }, [model.name, model.versions.length]);

  const confirmSet = async () => {
    const name = alias.trim();
    if (!name || !version) {
      return;
    }
    const previous = model.aliases[name];
    if (previous === version) {
      return;
    }
    if (previous !== undefined) {
      const result = await showDialog({
        title: trans.__('Move alias %1?', name),
        body: trans.__(
          'Alias "%1" moves from version %2 to version %3: version %2 loses it.',
          name,
          previous,
          version
        ),
        buttons: [
          Dialog.cancelButton({ label: trans.__('Cancel') }),
          Dialog.warnButton({ label: trans.__('Move') })
        ]
      });
      if (!result.button.accept) {
        return;
      }
    }
    await props.setAlias(name, version);
    setAliasName('');
  };

  const confirmDelete = async (name: string) => {
    const holder = model.aliases[name];
    const result = await showDialog({
      title: trans.__('Remove alias %1?', name),
      body: trans.__('Version %1 loses the alias "%2".', holder, name),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.warnButton({ label: trans.__('Remove') })
      ]
    });
    if (result.button.accept) {
      await props.deleteAlias(name);
    }
  };

  const card = model.versions[0]?.card ?? model.description ?? '';
  return (
    <div className="jp-mlops-model" data-model={model.name}>
      {card ? (
        <ModelCard
          markdown={String(card)}
          rendermime={props.rendermime}
          trans={trans}
        />
      ) : null}
      <ul className="jp-mlops-versions" aria-label={trans.__('Versions')}>
        {model.versions.map((v: IModelVersion) => (
          <li
            key={v.version}
            className="jp-mlops-version-item"
            data-version={v.version}
          >
            <span className="jp-mlops-version-number">
              {trans.__('version %1', v.version)}
            </span>
            {v.aliases.map(a => (
              <span key={a} className="jp-mlops-alias" data-alias={a}>
                {a}
                <button
                  className="jp-mlops-alias-remove"
                  aria-label={trans.__('Remove alias %1', a)}
                  title={trans.__('Remove alias %1', a)}
                  onClick={() => void confirmDelete(a)}
                >
                  ×
                </button>
              </span>
            ))}
            <div className="jp-mlops-version-metrics">
              {Object.entries(v.metrics ?? {})
                .map(([k, m]) => `${k} ${formatValue(m)}`)
                .join(' · ')}
            </div>
            <div className="jp-mlops-version-meta">
              {formatTime(v.created_at ?? null)}
              {v.run_id ? (
                <>
                  {' · '}
                  <button
                    className="jp-mlops-link"
                    onClick={() => props.showRun(v.run_id!)}
                  >
                    {trans.__('run %1', v.run_id)}
                  </button>
                </>
              ) : null}
            </div>
          </li>
        ))}
      </ul>
      <div className="jp-mlops-alias-form">
        <input
          className="jp-mlops-alias-name jp-mod-styled"
          aria-label={trans.__('Alias')}
          placeholder={trans.__('alias, e.g. production')}
          value={alias}
          onChange={e => setAliasName(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter') {
              void confirmSet();
            }
          }}
        />
        <select
          className="jp-mlops-alias-version jp-mod-styled"
          aria-label={trans.__('Version')}
          value={version}
          onChange={e => setVersion(Number(e.target.value))}
        >
          {model.versions.map(v => (
            <option key={v.version} value={v.version}>
              {v.version}
            </option>
          ))}
        </select>
        <button
          className="jp-mlops-alias-set jp-Button jp-mod-styled"
          onClick={() => void confirmSet()}
          disabled={!alias.trim()}
        >
          {trans.__('Set alias')}
        </button>
      </div>
      {props.history.length ? (
        <>
          <h4 className="jp-mlops-subtitle">{trans.__('Alias history')}</h4>
          <ol className="jp-mlops-alias-history">
            {props.history.map((entry, i) => (
              <li
                key={i}
                className="jp-mlops-history-entry"
                data-event={entry.event}
              >
                {historyText(entry, trans)}
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </div>
  );
}

function historyText(
  entry: { [key: string]: any },
  trans: TranslationBundle
): string {
  const when = formatTime(entry.at);
  switch (entry.event) {
    case 'alias-set':
      return entry.from_version
        ? trans.__(
            '%1: %2 moved from version %3 to %4',
            when,
            entry.alias,
            entry.from_version,
            entry.to_version
          )
        : trans.__(
            '%1: %2 set on version %3',
            when,
            entry.alias,
            entry.to_version
          );
    case 'alias-delete':
      return trans.__(
        '%1: %2 removed from version %3',
        when,
        entry.alias,
        entry.from_version
      );
    case 'publish':
      return trans.__(
        '%1: version %2 published',
        when,
        entry.to_version ?? entry.version
      );
    default:
      return `${when}: ${entry.event}`;
  }
}

/** The model card, Markdown rendered by JupyterLab's rendermime. */
function ModelCard(props: {
  markdown: string;
  rendermime: IRenderMimeRegistry | null;
  trans: TranslationBundle;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    const host = ref.current;
    const rendermime = props.rendermime;
    if (!host || !rendermime) {
      return;
    }
    const renderer = rendermime.createRenderer('text/markdown');
    const model = rendermime.createModel({
      data: { 'text/markdown': splitFrontMatter(props.markdown).body },
      trusted: false
    });
    let current = true; // a quicker change of model must not be overwritten by this one
    void renderer.renderModel(model).then(() => {
      if (current) {
        host.replaceChildren(renderer.node);
      }
    });
    return () => {
      current = false;
      renderer.dispose();
    };
  }, [props.markdown, props.rendermime]);
  const { header } = splitFrontMatter(props.markdown);
  return (
    <div className="jp-mlops-model-card-box">
      <div className="jp-mlops-model-card" ref={ref}>
        {props.rendermime ? null : <pre>{props.markdown}</pre>}
      </div>
      {header ? (
        <details className="jp-mlops-model-card-header">
          <summary>{props.trans.__('Card metadata (YAML)')}</summary>
          <pre>{header}</pre>
        </details>
      ) : null}
    </div>
  );
}

/** A model card's YAML front matter (shown folded, as code) and its Markdown body
 * (rendered): Markdown renderers show front matter as a run-on paragraph. */
export function splitFrontMatter(markdown: string): {
  header: string;
  body: string;
} {
  const match = /^---\n([\s\S]*?)\n---\n?/.exec(markdown);
  return match
    ? { header: match[1], body: markdown.slice(match[0].length) }
    : { header: '', body: markdown };
}
