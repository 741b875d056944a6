import { Clipboard, Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IPublishOptions, IRunRecord } from '../api';
import { PublishOutcome } from '../models/registry';
import { IMlopsModel } from '../tokens';
import { ErrorLine, formatValue, useReveal, useSignals } from './common';

/**
 * What publishing asks of the application.
 */
export interface IPublishActions {
  /** Store the options as the notebook's defaults (`metadata.mlops.publish`). */
  savePublishDefaults(options: IPublishOptions): void;
}

/** Text fields of the publish dialog. */
interface IPublishForm {
  name: string;
  description: string;
  aliases: string;
  require: string;
  mustBeat: string;
  saveDefaults: boolean;
}

function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map(s => s.trim())
    .filter(s => s.length);
}

/**
 * The body of the "⋯" publish dialog.
 */
class PublishDialogBody
  extends ReactWidget
  implements Dialog.IBodyWidget<IPublishForm>
{
  constructor(
    defaults: IPublishOptions,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-publish-dialog');
    this._form = {
      name: defaults.name ?? '',
      description: defaults.description ?? '',
      aliases: (defaults.aliases ?? []).join(', '),
      require: (defaults.require ?? []).join('\n'),
      mustBeat: defaults.must_beat ?? '',
      saveDefaults: false
    };
  }

  getValue(): IPublishForm {
    return { ...this._form };
  }

  render(): JSX.Element {
    const trans = this._trans;
    const field = (
      key: keyof IPublishForm,
      label: string,
      placeholder = '',
      multiline = false
    ) => (
      <label className="jp-mlops-field">
        <span>{label}</span>
        {multiline ? (
          <textarea
            className="jp-mod-styled"
            name={key}
            defaultValue={this._form[key] as string}
            placeholder={placeholder}
            rows={2}
            onChange={e => ((this._form as any)[key] = e.target.value)}
          />
        ) : (
          <input
            className="jp-mod-styled"
            name={key}
            defaultValue={this._form[key] as string}
            placeholder={placeholder}
            onChange={e => ((this._form as any)[key] = e.target.value)}
          />
        )}
      </label>
    );
    return (
      <div className="jp-mlops-form">
        {field('name', trans.__('Model name'))}
        {field('description', trans.__('Description'), '', true)}
        {field('aliases', trans.__('Aliases'), 'champion, staging')}
        {field(
          'require',
          trans.__('Required metrics (one per line)'),
          'accuracy>=0.9',
          true
        )}
        {field(
          'mustBeat',
          trans.__('Must beat the version holding alias'),
          'champion:accuracy'
        )}
        <label className="jp-mlops-check">
          <input
            type="checkbox"
            name="saveDefaults"
            onChange={e => (this._form.saveDefaults = e.target.checked)}
          />
          {trans.__("Save as this notebook's defaults")}
        </label>
      </div>
    );
  }

  private _form: IPublishForm;
}

/**
 * The one-click publish: run `runId` with the notebook's saved settings
 * (`publish_defaults` of its compile; the server's defaults when none).
 */
export function publishRun(
  model: IMlopsModel,
  runId: string,
  defaults: Partial<IPublishOptions> | null
): Promise<PublishOutcome> {
  const options: Partial<IPublishOptions> = { ...(defaults ?? {}) };
  if (!options.name) {
    delete options.name;
  }
  return model.registry.publish(runId, options);
}

/**
 * Publish buttons for a run: one click with the notebook's saved settings,
 * "⋯" for the dialog; then the new version or why it was refused.
 */
export function PublishControls(props: {
  model: IMlopsModel;
  run: IRunRecord;
  actions: IPublishActions;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, run, actions, trans } = props;
  const registry = model.registry;
  useSignals(registry.changed, model.pipeline.changed);
  const outcome = registry.outcome(run.id);
  // A refusal's reasons or the new version: in view as soon as they arrive
  // (hooks before the early return: React needs the same hooks at every render).
  const outcomeRef = React.useRef<HTMLDivElement>(null);
  useReveal(
    outcomeRef,
    outcome
      ? `${run.id}:${outcome.ok ? outcome.result.version : outcome.message}`
      : null
  );
  if (run.status !== 'succeeded' || !run.model) {
    return null;
  }
  const defaults: IPublishOptions = model.pipeline.result?.publish_defaults ?? {
    name: '',
    description: '',
    aliases: [],
    require: [],
    must_beat: null
  };
  const busy = registry.publishing(run.id);

  const publishNow = () => void publishRun(model, run.id, defaults);
  const publishWith = async () => {
    const result = await showDialog({
      title: trans.__('Publish run %1', run.id),
      body: new PublishDialogBody(defaults, trans),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Publish') })
      ]
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    const form = result.value;
    const options: IPublishOptions = {
      name: form.name.trim(),
      description: form.description,
      aliases: splitList(form.aliases),
      require: splitList(form.require),
      must_beat: form.mustBeat.trim() || null
    };
    if (form.saveDefaults) {
      actions.savePublishDefaults(options);
    }
    const body: Partial<IPublishOptions> = { ...options };
    if (!body.name) {
      delete body.name;
    }
    await registry.publish(run.id, body);
  };

  return (
    <div className="jp-mlops-publish">
      <div className="jp-mlops-publish-buttons">
        <button
          className="jp-mlops-publish-button jp-Button jp-mod-styled jp-mod-accept"
          disabled={busy}
          onClick={publishNow}
          title={
            defaults.name
              ? trans.__('Publish as model %1', defaults.name)
              : trans.__('Publish the model of this run')
          }
        >
          {busy ? trans.__('Publishing…') : trans.__('Publish')}
        </button>
        <button
          className="jp-mlops-publish-more jp-Button jp-mod-styled"
          disabled={busy}
          onClick={() => void publishWith()}
          aria-label={trans.__('Publish with options…')}
          title={trans.__('Publish with options…')}
        >
          ⋯
        </button>
      </div>
      {outcome?.ok ? (
        <PublishResult
          ref={outcomeRef}
          name={outcome.result.name}
          version={outcome.result.version}
          trans={trans}
        />
      ) : null}
      {outcome && !outcome.ok ? (
        <div className="jp-mlops-publish-refused" ref={outcomeRef}>
          <ErrorLine message={outcome.message} />
          {outcome.checks.length ? (
            <ul className="jp-mlops-checks">
              {failedFirst(outcome.checks).map((check, i) => (
                <li
                  key={i}
                  data-ok={String(check.ok ?? check.passed ?? '')}
                  className="jp-mlops-check-item"
                >
                  {checkText(check)}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The checks that failed first: the reason for a refusal is in view first. */
function failedFirst(
  checks: { [key: string]: unknown }[]
): { [key: string]: unknown }[] {
  const failed = (c: { [key: string]: unknown }) =>
    (c.ok ?? c.passed) === false;
  return [...checks.filter(failed), ...checks.filter(c => !failed(c))];
}

/** One line for a gate or deployability check. */
function checkText(check: { [key: string]: unknown }): string {
  const ok = check.ok ?? check.passed;
  const mark = ok === true ? '✓' : ok === false ? '✗' : '•';
  const name = check.name ?? check.gate ?? check.check ?? '';
  const rest = Object.entries(check)
    .filter(
      ([k]) => !['ok', 'passed', 'name', 'gate', 'check', 'message'].includes(k)
    )
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ');
  return [mark, name, check.message ?? '', rest]
    .filter(s => s !== '')
    .join(' ');
}

const PublishResult = React.forwardRef(function PublishResult(
  props: {
    name: string;
    version: number;
    trans: TranslationBundle;
  },
  ref: React.Ref<HTMLDivElement>
): JSX.Element {
  const { name, version, trans } = props;
  // JSON string syntax is valid Python for a name (quotes and backslashes escaped)
  const snippet = `from jupyter_mlops import load_model\nmodel = load_model(${JSON.stringify(name)}, version=${version})`;
  return (
    <div className="jp-mlops-publish-result" role="status" ref={ref}>
      <div className="jp-mlops-publish-version">
        {trans.__('%1 version %2', name, version)}
      </div>
      <pre className="jp-mlops-snippet">{snippet}</pre>
      <button
        className="jp-mlops-copy jp-Button jp-mod-styled"
        onClick={() => Clipboard.copyToSystem(snippet)}
      >
        {trans.__('Copy')}
      </button>
    </div>
  );
});
