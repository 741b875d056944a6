import { TranslationBundle } from '@jupyterlab/translation';
import { FormComponent, ReactWidget } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IJSONSchema } from '../api';
import { IMlopsModel } from '../tokens';
import { useSignals } from './common';

/** Whether a schema type is edited as JSON text (lists, dicts). */
function isJSONType(schema: IJSONSchema): boolean {
  return schema.type === 'array' || schema.type === 'object';
}

/**
 * The schema rjsf renders: lists and dicts become JSON text fields.
 */
export function formSchema(schema: IJSONSchema): IJSONSchema {
  const properties: { [name: string]: IJSONSchema } = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    properties[name] = isJSONType(prop)
      ? { type: 'string', title: `${prop.title ?? name} (JSON)` }
      : { ...prop, title: prop.title ?? name };
  }
  return { type: 'object', properties };
}

/** Values as the form shows them (JSON text for lists and dicts). */
export function toFormData(
  schema: IJSONSchema,
  values: { [name: string]: unknown }
): { [name: string]: any } {
  const out: { [name: string]: any } = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const value = values[name];
    out[name] = isJSONType(prop) ? JSON.stringify(value ?? null) : value;
  }
  return out;
}

/**
 * Check `values` (form data) against the parameters schema.
 *
 * @returns the error message of each invalid parameter.
 */
export function validateParameters(
  schema: IJSONSchema,
  data: { [name: string]: any },
  trans: TranslationBundle
): { [name: string]: string } {
  const errors: { [name: string]: string } = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const value = data[name];
    const type = prop.type;
    if (value === undefined || value === null || value === '') {
      if (type !== 'string' && prop.default !== null) {
        errors[name] = trans.__('%1 needs a value', name);
      }
      continue;
    }
    if (isJSONType(prop)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch {
        errors[name] = trans.__('%1 must be valid JSON', name);
        continue;
      }
      const ok =
        type === 'array'
          ? Array.isArray(parsed)
          : parsed !== null &&
            typeof parsed === 'object' &&
            !Array.isArray(parsed);
      if (!ok) {
        errors[name] =
          type === 'array'
            ? trans.__('%1 must be a JSON list', name)
            : trans.__('%1 must be a JSON object', name);
      }
    } else if (type === 'integer' && !Number.isInteger(value)) {
      errors[name] = trans.__('%1 must be an integer', name);
    } else if (
      type === 'number' &&
      (typeof value !== 'number' || !Number.isFinite(value))
    ) {
      errors[name] = trans.__('%1 must be a number', name);
    } else if (type === 'boolean' && typeof value !== 'boolean') {
      errors[name] = trans.__('%1 must be true or false', name);
    }
  }
  return errors;
}

/** Form data back to parameter values (JSON text parsed). */
export function fromFormData(
  schema: IJSONSchema,
  data: { [name: string]: any }
): { [name: string]: unknown } {
  const out: { [name: string]: unknown } = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const value = data[name];
    if (isJSONType(prop)) {
      try {
        out[name] = JSON.parse(value);
      } catch {
        out[name] = value;
      }
    } else {
      out[name] = value;
    }
  }
  return out;
}

/**
 * A small rjsf validator for the flat schemas of notebook parameters (no
 * ajv in the bundle): types, JSON text of lists and dicts.
 */
export function parametersValidator(
  schema: IJSONSchema,
  trans: TranslationBundle
): any {
  const toErrorList = (errorSchema: any = {}) => {
    const list: any[] = [];
    for (const [name, entry] of Object.entries<any>(errorSchema)) {
      for (const message of entry?.__errors ?? []) {
        list.push({
          name: 'type',
          property: `.${name}`,
          message,
          stack: message,
          params: {},
          schemaPath: ''
        });
      }
    }
    return list;
  };
  return {
    validateFormData: (formData: any) => {
      const errors = validateParameters(schema, formData ?? {}, trans);
      const errorSchema: any = {};
      for (const [name, message] of Object.entries(errors)) {
        errorSchema[name] = { __errors: [message] };
      }
      return { errors: toErrorList(errorSchema), errorSchema };
    },
    toErrorList,
    isValid: () => true,
    rawValidation: () => ({ errors: [] })
  };
}

/**
 * The Parameters section: a form generated from `parameters_schema`.
 */
export class ParametersWidget extends ReactWidget {
  constructor(
    private _model: IMlopsModel,
    private _trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-mlops-parameters');
    this.title.label = _trans.__('Parameters');
  }

  render(): JSX.Element {
    return <ParametersView model={this._model} trans={this._trans} />;
  }
}

function ParametersView(props: {
  model: IMlopsModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { trans } = props;
  const pipeline = props.model.pipeline;
  useSignals(pipeline.changed);
  const schema = pipeline.result?.parameters_schema;
  const names = Object.keys(schema?.properties ?? {});
  const rjsfSchema = React.useMemo(
    () => (schema ? formSchema(schema) : null),
    [schema]
  );
  const validator = React.useMemo(
    () => (schema ? parametersValidator(schema, trans) : null),
    [schema]
  );
  if (!schema || !rjsfSchema || !names.length) {
    return (
      <div className="jp-mlops-empty">
        {pipeline.path === null
          ? trans.__('Open a notebook to see its parameters.')
          : trans.__(
              'No parameters: tag a cell "parameters" to make its variables settable per run.'
            )}
      </div>
    );
  }
  const formData = toFormData(schema, pipeline.values);
  return (
    <div className="jp-mlops-parameters-body">
      <FormComponent
        schema={rjsfSchema as any}
        formData={formData}
        validator={validator}
        liveValidate
        showErrorList={false}
        uiSchema={{
          'ui:submitButtonOptions': { norender: true }
        }}
        onChange={event => {
          pipeline.values = fromFormData(schema, event.formData ?? {});
        }}
      />
      <button
        className="jp-mlops-reset jp-Button jp-mod-styled jp-mod-reject"
        onClick={() => pipeline.resetValues()}
        disabled={!Object.keys(pipeline.changedValues).length}
      >
        {trans.__('Reset to defaults')}
      </button>
    </div>
  );
}
