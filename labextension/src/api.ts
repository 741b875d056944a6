/**
 * Typed REST client for the jupyter-mlops server extension (`/mlops/api/...`).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/**
 * The REST namespace of the server extension, relative to the server base URL.
 */
export const API_NAMESPACE = 'mlops/api';

/**
 * An error raised by the MLOps REST API, carrying the server's `{"message"}`.
 */
export class MlopsAPIError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null
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
  inputs: { [variable: string]: string };
  outputs: string[];
  cache?: unknown;
}

/**
 * The answer of `GET /mlops/api/pipeline?path=...`.
 */
export interface IPipeline {
  notebook: string;
  kernel?: string | null;
  parameters: { [name: string]: IPipelineParameter };
  steps: IPipelineStep[];
  metrics?: unknown;
  model?: unknown;
  example?: unknown;
  warnings?: string[];
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
    throw new MlopsAPIError(message, response.status);
  }
  if (data === null) {
    throw new MlopsAPIError(
      `Invalid JSON answer from ${url}: ${text.slice(0, 200)}`,
      response.status
    );
  }
  return data as T;
}

/**
 * `GET /mlops/api/info`.
 */
export function getInfo(settings?: ServerConnection.ISettings) {
  return requestAPI<IServerInfo>('info', { method: 'GET' }, settings);
}

/**
 * `GET /mlops/api/pipeline?path=<path>`: compile a notebook.
 *
 * @param path - the notebook path relative to the server root.
 */
export function getPipeline(
  path: string,
  settings?: ServerConnection.ISettings
) {
  return requestAPI<IPipeline>(
    `pipeline?path=${encodeURIComponent(path)}`,
    { method: 'GET' },
    settings
  );
}
