import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { URLExt } from '@jupyterlab/coreutils';

import { API_NAMESPACE, MlopsClient } from './api';

/**
 * The name of the read-only drive of executed step notebooks.
 */
export const RUNS_DRIVE = 'MlopsRuns';

/**
 * A read-only JupyterLab drive backed by the runs API: `RUN_ID/STEP.ipynb`
 * is the executed notebook of step STEP of run RUN_ID, wherever the store lives.
 */
export class RunsDrive implements Contents.IDrive {
  constructor(private _client: MlopsClient) {}

  readonly name = RUNS_DRIVE;

  get serverSettings(): ServerConnection.ISettings {
    return this._client.serverSettings;
  }
  get fileChanged(): ISignal<Contents.IDrive, Contents.IChangedArgs> {
    return this._fileChanged;
  }
  get isDisposed(): boolean {
    return this._isDisposed;
  }
  dispose(): void {
    this._isDisposed = true;
  }

  /** The drive path of a step's executed notebook. */
  static path(runId: string, step: string): string {
    return `${RUNS_DRIVE}:${runId}/${step}.ipynb`;
  }

  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const match = /^\/?([^/]+)\/([^/]+)\.ipynb$/.exec(localPath);
    const now = new Date().toISOString();
    if (!match) {
      return {
        name: localPath.split('/').pop() ?? '',
        path: localPath,
        type: 'directory',
        writable: false,
        created: now,
        last_modified: now,
        mimetype: '',
        content: [],
        format: 'json'
      };
    }
    const [, runId, step] = match;
    const content =
      options?.content === false
        ? null
        : await this._client.stepNotebook(runId, step);
    return {
      name: `${step}.ipynb`,
      path: localPath,
      type: 'notebook',
      writable: false,
      created: now,
      last_modified: now,
      mimetype: 'application/x-ipynb+json',
      content,
      format: 'json'
    };
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    const [runId, file] = localPath.replace(/^\//, '').split('/');
    return URLExt.join(
      this.serverSettings.baseUrl,
      API_NAMESPACE,
      this._client.stepNotebookPath(runId, file.replace(/\.ipynb$/, ''))
    );
  }

  newUntitled(): Promise<Contents.IModel> {
    return Private.readOnly();
  }
  delete(): Promise<void> {
    return Private.readOnly();
  }
  rename(): Promise<Contents.IModel> {
    return Private.readOnly();
  }
  save(): Promise<Contents.IModel> {
    return Private.readOnly();
  }
  copy(): Promise<Contents.IModel> {
    return Private.readOnly();
  }
  createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return Private.readOnly();
  }
  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }
  restoreCheckpoint(): Promise<void> {
    return Private.readOnly();
  }
  deleteCheckpoint(): Promise<void> {
    return Private.readOnly();
  }

  private _fileChanged = new Signal<Contents.IDrive, Contents.IChangedArgs>(
    this
  );
  private _isDisposed = false;
}

namespace Private {
  export function readOnly(): Promise<never> {
    return Promise.reject(
      new Error('Executed step notebooks are read-only (they belong to a run).')
    );
  }
}
