import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { stepNameProblem } from './tags';

/** The message for a refused step name (null when fine). */
export function stepNameError(
  name: string,
  existing: readonly string[],
  trans: TranslationBundle
): string | null {
  switch (stepNameProblem(name, existing)) {
    case 'empty':
      return trans.__('Type a step name.');
    case 'malformed':
      return trans.__(
        "'%1' is not a step name: a lowercase letter, then up to 62 lowercase letters, digits, '_' or '-'.",
        name
      );
    case 'exists':
      return trans.__(
        "A step '%1' exists already: pick it under Existing step, or choose another name.",
        name
      );
    default:
      return null;
  }
}

/** The body of the "New step" dialog: the name, checked as it is typed. */
class StepNameBody extends ReactWidget implements Dialog.IBodyWidget<string> {
  constructor(
    private _existing: readonly string[],
    private _trans: TranslationBundle,
    private _name: string,
    private _error: string | null
  ) {
    super();
    this.addClass('jp-mlops-step-name-dialog');
  }

  getValue(): string {
    return this._name.trim();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    requestAnimationFrame(() => {
      const input = this.node.querySelector('input');
      input?.focus();
      input?.select();
    });
  }

  render(): JSX.Element {
    const trans = this._trans;
    return (
      <label className="jp-mlops-field">
        <span>{trans.__('Step name')}</span>
        <input
          className="jp-mod-styled jp-mlops-step-name"
          name="step-name"
          defaultValue={this._name}
          placeholder="featurize"
          spellCheck={false}
          autoComplete="off"
          onChange={event => {
            this._name = event.target.value;
            const name = this._name.trim();
            this._error = name
              ? stepNameError(name, this._existing, trans)
              : null;
            this.update();
          }}
        />
        {this._error ? (
          <div className="jp-mlops-error jp-mlops-step-name-error" role="alert">
            {this._error}
          </div>
        ) : null}
      </label>
    );
  }
}

/**
 * Ask for a new step's name until it is valid (or the user cancels): the
 * compiler's rule, and not the name of an existing step.
 */
export async function askStepName(
  existing: readonly string[],
  trans: TranslationBundle
): Promise<string | null> {
  let name = '';
  let error: string | null = null;
  for (;;) {
    const result = await showDialog({
      title: trans.__('New step'),
      body: new StepNameBody(existing, trans, name, error),
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Create step') })
      ],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept) {
      return null;
    }
    name = result.value ?? '';
    error = stepNameError(name, existing, trans);
    if (!error) {
      return name;
    }
  }
}
