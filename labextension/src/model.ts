import { ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { getInfo, getPipeline, IPipeline, IServerInfo } from './api';
import { FetchStatus, IMlopsModel } from './tokens';

/**
 * The default MLOps model, backed by the REST API.
 */
export class MlopsModel implements IMlopsModel {
  constructor(options: MlopsModel.IOptions = {}) {
    this._settings = options.serverSettings ?? ServerConnection.makeSettings();
  }

  get info(): IServerInfo | null {
    return this._info;
  }
  get infoStatus(): FetchStatus {
    return this._infoStatus;
  }
  get infoError(): string | null {
    return this._infoError;
  }
  get infoChanged(): ISignal<IMlopsModel, void> {
    return this._infoChanged;
  }

  get notebookPath(): string | null {
    return this._notebookPath;
  }
  get pipeline(): IPipeline | null {
    return this._pipeline;
  }
  get pipelineStatus(): FetchStatus {
    return this._pipelineStatus;
  }
  get pipelineError(): string | null {
    return this._pipelineError;
  }
  get pipelineChanged(): ISignal<IMlopsModel, void> {
    return this._pipelineChanged;
  }

  get active(): boolean {
    return this._active;
  }
  set active(value: boolean) {
    if (value === this._active) {
      return;
    }
    this._active = value;
    if (value && this._pipelineStale) {
      void this.refreshPipeline();
    }
  }

  async refreshInfo(): Promise<void> {
    const request = ++this._infoRequest;
    this._infoStatus = 'loading';
    this._infoChanged.emit();
    try {
      const info = await getInfo(this._settings);
      if (request !== this._infoRequest) {
        return;
      }
      this._info = info;
      this._infoError = null;
      this._infoStatus = 'ready';
    } catch (error) {
      if (request !== this._infoRequest) {
        return;
      }
      this._info = null;
      this._infoError = Private.message(error);
      this._infoStatus = 'error';
    }
    this._infoChanged.emit();
  }

  setNotebookPath(path: string | null): void {
    if (path === this._notebookPath) {
      return;
    }
    this._notebookPath = path;
    this._pipeline = null;
    this._pipelineError = null;
    this._pipelineStatus = 'idle';
    // Forget any answer still in flight for the previous notebook.
    this._pipelineRequest++;
    this._pipelineStale = path !== null;
    this._pipelineChanged.emit();
    if (this._active && path !== null) {
      void this.refreshPipeline();
    }
  }

  async refreshPipeline(): Promise<void> {
    const path = this._notebookPath;
    if (path === null) {
      return;
    }
    if (!this._active) {
      this._pipelineStale = true;
      return;
    }
    this._pipelineStale = false;
    const request = ++this._pipelineRequest;
    this._pipelineStatus = 'loading';
    this._pipelineChanged.emit();
    try {
      const pipeline = await getPipeline(path, this._settings);
      if (request !== this._pipelineRequest) {
        return;
      }
      this._pipeline = pipeline;
      this._pipelineError = null;
      this._pipelineStatus = 'ready';
    } catch (error) {
      if (request !== this._pipelineRequest) {
        return;
      }
      this._pipeline = null;
      this._pipelineError = Private.message(error);
      this._pipelineStatus = 'error';
    }
    this._pipelineChanged.emit();
  }

  private _settings: ServerConnection.ISettings;
  private _info: IServerInfo | null = null;
  private _infoStatus: FetchStatus = 'idle';
  private _infoError: string | null = null;
  private _infoRequest = 0;
  private _infoChanged = new Signal<IMlopsModel, void>(this);
  private _notebookPath: string | null = null;
  private _pipeline: IPipeline | null = null;
  private _pipelineStatus: FetchStatus = 'idle';
  private _pipelineError: string | null = null;
  private _pipelineRequest = 0;
  private _pipelineStale = false;
  private _pipelineChanged = new Signal<IMlopsModel, void>(this);
  private _active = false;
}

export namespace MlopsModel {
  export interface IOptions {
    /** The server settings; defaults to `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
  }
}

namespace Private {
  export function message(error: unknown): string {
    if (error instanceof Error) {
      return error.message;
    }
    return String(error);
  }
}
