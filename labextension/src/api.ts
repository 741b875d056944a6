/**
 * Typed REST client for the jupyter-mlops server extension (`/mlops/api/...`)
 * and the schema ids of the events it emits on jupyter_server's event bus.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The REST namespace of the server extension, relative to the server base URL.
 */
export const API_NAMESPACE = 'mlops/api';

/**
 * The schema ids of the events the server emits (see the README).
 */
export namespace EventSchemas {
  export const run = 'https://events.jupyter-mlops.org/run/v1';
  export const step = 'https://events.jupyter-mlops.org/step/v1';
  export const output = 'https://events.jupyter-mlops.org/output/v1';
  export const all: readonly string[] = [run, step, output];
}

/**
 * An error raised by the MLOps REST API, carrying the server's `{"message"}`.
 */
export class MlopsAPIError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly body: any = null
  ) {
    super(message);
    this.name = 'MlopsAPIError';
  }
}

/**
 * The answer of `GET /mlops/api/info`.
 */
export interface IServerInfo {
  version: string;
  store: string;
  registry_uri: string;
  /** Where the server's runs execute by default (absent from older servers). */
  executor?: IExecutorInfo | null;
  /** The Dask cluster a run may ask for (`executor: 'dask'`), if one is set. */
  cluster?: IExecutorInfo | null;
}

/**
 * Where runs execute: `local` (this machine) or `dask` (a cluster), as
 * `GET /mlops/api/info` shows it (no credentials).
 */
export interface IExecutorInfo {
  name: string;
  scheduler?: string | null;
  artifacts?: string | null;
  retries?: number;
  /** The environment's executor settings are wrong: what to fix. */
  error?: string;
}

/**
 * A parameter of a compiled pipeline.
 */
export interface IPipelineParameter {
  default: unknown;
  type: string | null;
}

/**
 * A step of a compiled pipeline.
 */
export interface IPipelineStep {
  name: string;
  cells: number[];
  upstream: string[];
  /** variable -> the step producing it */
  inputs: { [variable: string]: string };
  outputs: string[];
  cache?: unknown;
  reads?: string[];
  /** the parameters the step reads (when the server sends them) */
  params_read?: string[];
  /** every name the step assigns (when the server sends them) */
  defines?: string[];
}

/**
 * A compiled pipeline (`Pipeline.to_dict()`).
 */
export interface IPipeline {
  notebook: string | null;
  kernel?: string | null;
  parameters: { [name: string]: IPipelineParameter };
  steps: IPipelineStep[];
  metrics?: string[] | null;
  model?: { step?: string; variable?: string } | null;
  example?: unknown;
  warnings?: string[];
}

/**
 * A compile problem, pointing at a cell, step or variable when known.
 */
export interface IProblem {
  cell: number | null;
  step: string | null;
  variable: string | null;
  message: string;
}

/**
 * The notebook's saved publish settings (`metadata.mlops.publish`).
 */
export interface IPublishOptions {
  name: string;
  description: string;
  aliases: string[];
  require: string[];
  must_beat: string | null;
}

/**
 * A JSON Schema object (as rendered by the parameters form).
 */
export interface IJSONSchema {
  type?: string | string[];
  title?: string;
  default?: unknown;
  properties?: { [name: string]: IJSONSchema };
  items?: IJSONSchema;
  [key: string]: unknown;
}

/**
 * The answer of `GET|POST /mlops/api/pipeline`.
 */
export interface ICompileResult {
  pipeline: IPipeline | null;
  errors: IProblem[];
  warnings: IProblem[];
  parameters_schema: IJSONSchema;
  publish_defaults: IPublishOptions | null;
}

/** How `POST /mlops/api/split` cuts the notebook into steps. */
export type SplitBy = 'auto' | 'h2' | 'h1';

/**
 * A step of a proposed split.
 */
export interface ISplitStep {
  name: string;
  heading: string | null;
  cells: number[];
  depends_on: string[];
}

/**
 * The answer of `POST /mlops/api/split`: the full proposed tag list of every
 * cell, and the pipeline compiled with those tags.
 */
export interface ISplitResult {
  /** What was used (`auto` resolved). */
  by: string;
  cells: { index: number; tags: string[] }[];
  steps: ISplitStep[];
  pipeline: IPipeline | null;
  warnings: IProblem[];
  message: string;
}

/**
 * The first difference `POST /mlops/api/verify` found.
 */
export interface IVerifyDifference {
  variable: string;
  step: string;
  notebook_value: string;
  pipeline_value: string;
  cause: string;
  fix: string;
}

/**
 * The answer of `POST /mlops/api/verify` (also when the results differ).
 */
export interface IVerifyResult {
  equal: boolean;
  message: string;
  difference: IVerifyDifference | null;
  compared?: { variables: number; steps: number; metrics: number };
  seconds?: { notebook: number; pipeline: number; wall: number };
}

export type RunStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export type StepStatus =
  'pending' | 'running' | 'succeeded' | 'cached' | 'failed' | 'skipped';

/**
 * A step of a run record.
 */
export interface IRunStep {
  status: StepStatus;
  duration_s: number | null;
  notebook?: string | null;
  /** one line (events) or `{"cell", "ename", "evalue"}` (records) */
  error?: string | { [key: string]: unknown } | null;
  cached_from?: string | null;
  reason?: string | null;
  outputs?: unknown;
}

/**
 * A run record as returned by the REST API.
 */
export interface IRunRecord {
  id: string;
  notebook: string;
  path?: string;
  status: RunStatus;
  parameters: { [name: string]: unknown };
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  steps: { [name: string]: IRunStep };
  metrics: { [name: string]: number } | null;
  model: { step?: string; variable?: string; artifact?: string } | null;
  published?: { name: string; version: number } | null;
  error?: unknown;
  [key: string]: unknown;
}

/**
 * An event of a run, from the bus or from the replay.
 */
export interface IRunEvent {
  schema_id: string;
  run_id: string;
  path: string;
  seq: number;
  time: string;
  status?: string;
  error?: string | null;
  step?: string;
  duration_s?: number | null;
  reason?: string | null;
  text?: string;
}

/**
 * The body of `POST /mlops/api/runs`.
 */
export interface IRunRequest {
  path: string;
  parameters: { [name: string]: unknown };
  use_cache?: boolean;
  isolate?: boolean;
  publish?: IPublishOptions | null;
  /** Where to run: `local`, `dask` (the server's cluster); null: the default. */
  executor?: 'local' | 'dask' | null;
}

/**
 * A version of a registered model.
 */
export interface IModelVersion {
  version: number;
  created_at?: string | null;
  aliases: string[];
  metrics: { [name: string]: number };
  run_id?: string | null;
  uri?: string;
  flavor?: string | null;
  card?: string | null;
  description?: string | null;
  [key: string]: unknown;
}

/**
 * A registered model.
 */
export interface IRegisteredModel {
  name: string;
  description?: string;
  aliases: { [alias: string]: number };
  latest_version?: number | null;
  versions: IModelVersion[];
}

/**
 * An entry of a model's alias/publish history.
 */
export interface IHistoryEntry {
  at: string;
  by?: string;
  event: string;
  alias?: string | null;
  from_version?: number | null;
  to_version?: number | null;
  [key: string]: unknown;
}

/**
 * A gate or deployability check of a publish.
 */
export interface ICheck {
  name?: string;
  ok?: boolean;
  passed?: boolean;
  message?: string;
  [key: string]: unknown;
}

/**
 * The answer of a successful publish.
 */
export interface IPublishResult {
  name: string;
  version: number;
  uri: string;
  aliases: string[];
  checks: unknown;
}

/**
 * Call the server extension REST API.
 *
 * @param path - the endpoint below `/mlops/api/`, optionally with a query
 *   string (e.g. `pipeline?path=a.ipynb`).
 * @param init - the fetch options.
 * @param settings - the server connection settings.
 * @returns the decoded JSON body.
 * @throws {MlopsAPIError} with the server's message when the call fails.
 */
export async function requestAPI<T>(
  path = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const [endpoint, ...query] = path.split('?');
  let url = URLExt.join(settings.baseUrl, API_NAMESPACE, endpoint);
  if (query.length) {
    url += '?' + query.join('?');
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MlopsAPIError(`Cannot reach the Jupyter server: ${reason}`);
  }

  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (!response.ok) {
    const message =
      data && typeof data.message === 'string' && data.message
        ? data.message
        : `${response.status} ${response.statusText || 'error'} on ${url}`;
    throw new MlopsAPIError(message, response.status, data);
  }
  if (data === null) {
    throw new MlopsAPIError(
      `Invalid JSON answer from ${url}: ${text.slice(0, 200)}`,
      response.status
    );
  }
  return data as T;
}

function query(params: { [key: string]: string | number | null | undefined }) {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') {
      parts.push(`${key}=${encodeURIComponent(String(value))}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function json(method: string, body?: unknown): RequestInit {
  return body === undefined
    ? { method }
    : { method, body: JSON.stringify(body) };
}

/**
 * The REST client: one method per route of the server extension.
 */
export class MlopsClient {
  constructor(
    readonly serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings()
  ) {}

  private _call<T>(path: string, init: RequestInit = { method: 'GET' }) {
    return requestAPI<T>(path, init, this.serverSettings);
  }

  /** `GET /mlops/api/info`. */
  info(): Promise<IServerInfo> {
    return this._call('info');
  }

  /** `GET /mlops/api/pipeline?path=`: compile the saved notebook. */
  async compile(path: string): Promise<ICompileResult> {
    return Private.compileResult(
      await this._call<any>(`pipeline${query({ path })}`)
    );
  }

  /** `POST /mlops/api/pipeline`: compile the notebook as in the editor. */
  async compileContent(
    path: string,
    content: unknown
  ): Promise<ICompileResult> {
    return Private.compileResult(
      await this._call<any>('pipeline', json('POST', { path, content }))
    );
  }

  /**
   * `POST /mlops/api/split`: propose step tags for the notebook (as in the
   * editor when `content` is given); never writes the notebook.
   */
  split(
    path: string,
    by: SplitBy = 'auto',
    content: unknown = null
  ): Promise<ISplitResult> {
    const body: { [key: string]: unknown } = { path, by };
    if (content) {
      body.content = content;
    }
    return this._call('split', json('POST', body));
  }

  /**
   * `POST /mlops/api/verify`: run the saved notebook and its pipeline and
   * compare what they compute.
   */
  verify(
    path: string,
    parameters: { [name: string]: unknown } = {},
    tolerance: number | null = null
  ): Promise<IVerifyResult> {
    return this._call('verify', json('POST', { path, parameters, tolerance }));
  }

  /** `POST /mlops/api/runs` → the run record (queued or running). */
  startRun(request: IRunRequest): Promise<IRunRecord> {
    return this._call('runs', json('POST', request));
  }

  /** `GET /mlops/api/runs?path=&status=&limit=&before=`, newest first. */
  listRuns(
    options: {
      path?: string;
      status?: string;
      limit?: number;
      before?: string;
    } = {}
  ): Promise<{ runs: IRunRecord[]; next_before: string | null }> {
    return this._call(`runs${query(options)}`);
  }

  /** `GET /mlops/api/runs/{id}`. */
  getRun(id: string): Promise<IRunRecord> {
    return this._call(`runs/${encodeURIComponent(id)}`);
  }

  /** `POST /mlops/api/runs/{id}/cancel`. */
  cancelRun(id: string): Promise<IRunRecord> {
    return this._call(
      `runs/${encodeURIComponent(id)}/cancel`,
      json('POST', {})
    );
  }

  /** `GET /mlops/api/runs/{id}/events?after=SEQ`: the event replay. */
  runEvents(
    id: string,
    after = 0
  ): Promise<{ events: IRunEvent[]; last: number }> {
    return this._call(
      `runs/${encodeURIComponent(id)}/events${query({ after })}`
    );
  }

  /** The URL of a step's executed notebook. */
  stepNotebookPath(id: string, step: string): string {
    return `runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/notebook`;
  }

  /** `GET /mlops/api/runs/{id}/steps/{step}/notebook` (nbformat JSON). */
  stepNotebook(id: string, step: string): Promise<any> {
    return this._call(this.stepNotebookPath(id, step));
  }

  /** `GET /mlops/api/runs/{id}/steps/{step}/log?offset=N`. */
  stepLog(
    id: string,
    step: string,
    offset = 0
  ): Promise<{ text: string; offset: number; complete: boolean }> {
    return this._call(
      `runs/${encodeURIComponent(id)}/steps/${encodeURIComponent(step)}/log${query({ offset })}`
    );
  }

  /** The URL of a run's HTML report (served sandboxed). */
  reportUrl(id: string): string {
    return URLExt.join(
      this.serverSettings.baseUrl,
      API_NAMESPACE,
      'runs',
      encodeURIComponent(id),
      'report'
    );
  }

  /** `GET /mlops/api/models`. */
  async listModels(): Promise<IRegisteredModel[]> {
    return (await this._call<{ models: IRegisteredModel[] }>('models')).models;
  }

  /** `GET /mlops/api/models/{name}`. */
  getModel(name: string): Promise<IRegisteredModel> {
    return this._call(`models/${encodeURIComponent(name)}`);
  }

  /** `GET /mlops/api/models/{name}/history`. */
  async modelHistory(name: string): Promise<IHistoryEntry[]> {
    return (
      await this._call<{ events: IHistoryEntry[] }>(
        `models/${encodeURIComponent(name)}/history`
      )
    ).events;
  }

  /** `POST /mlops/api/models`: publish a run (409 carries the checks). */
  publish(
    request: Partial<IPublishOptions> & { run_id: string }
  ): Promise<IPublishResult> {
    return this._call('models', json('POST', request));
  }

  /** `PUT /mlops/api/models/{name}/aliases/{alias}`. */
  setAlias(
    name: string,
    alias: string,
    version: number
  ): Promise<{
    name: string;
    alias: string;
    version: number;
    previous: number | null;
  }> {
    return this._call(
      `models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      json('PUT', { version })
    );
  }

  /** `DELETE /mlops/api/models/{name}/aliases/{alias}`. */
  deleteAlias(name: string, alias: string): Promise<unknown> {
    return this._call(
      `models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      json('DELETE')
    );
  }
}

/**
 * `GET /mlops/api/info`.
 */
export function getInfo(settings?: ServerConnection.ISettings) {
  return new MlopsClient(settings).info();
}

namespace Private {
  /**
   * Normalise a compile answer (a bare `Pipeline.to_dict()` from an older
   * server is accepted as a pipeline without errors).
   */
  export function compileResult(data: any): ICompileResult {
    if (data && Array.isArray(data.steps) && !('pipeline' in data)) {
      data = { pipeline: data };
    }
    const pipeline: IPipeline | null = data?.pipeline ?? null;
    return {
      pipeline,
      errors: Array.isArray(data?.errors) ? data.errors : [],
      warnings: Array.isArray(data?.warnings)
        ? data.warnings
        : (pipeline?.warnings ?? []).map((message: string) => ({
            cell: null,
            step: null,
            variable: null,
            message
          })),
      parameters_schema: data?.parameters_schema ?? schemaOf(pipeline),
      publish_defaults: data?.publish_defaults ?? null
    };
  }

  /** A JSON Schema from a pipeline's parameters (when the server sent none). */
  function schemaOf(pipeline: IPipeline | null): IJSONSchema {
    const properties: { [name: string]: IJSONSchema } = {};
    for (const [name, p] of Object.entries(pipeline?.parameters ?? {})) {
      const type =
        {
          int: 'integer',
          float: 'number',
          str: 'string',
          bool: 'boolean',
          list: 'array',
          dict: 'object'
        }[p.type ?? ''] ?? undefined;
      properties[name] = {
        title: name,
        default: p.default,
        ...(type ? { type } : {})
      };
    }
    return { type: 'object', properties };
  }
}
