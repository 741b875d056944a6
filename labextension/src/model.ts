import { Event, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { IServerInfo, MlopsClient } from './api';
import { PipelineModel } from './models/pipeline';
import { INotebookCells, ProposalModel } from './models/proposal';
import { RegistryModel } from './models/registry';
import { RunsModel } from './models/runs';
import { VerifyModel } from './models/verify';
import { FetchStatus, IMlopsModel } from './tokens';

/**
 * The default MLOps model, backed by the REST API and the event bus.
 */
export class MlopsModel implements IMlopsModel {
  constructor(options: MlopsModel.IOptions = {}) {
    this.client = new MlopsClient(
      options.serverSettings ?? ServerConnection.makeSettings()
    );
    this.pipeline = new PipelineModel(this.client);
    this.runs = new RunsModel(this.client, options.events ?? null);
    this.registry = new RegistryModel(this.client);
    this.proposal = new ProposalModel(this.client);
    this.verify = new VerifyModel(this.client);
  }

  readonly client: MlopsClient;
  readonly pipeline: PipelineModel;
  readonly runs: RunsModel;
  readonly registry: RegistryModel;
  readonly proposal: ProposalModel;
  readonly verify: VerifyModel;

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
    return this.pipeline.path;
  }

  async refreshInfo(): Promise<void> {
    const request = ++this._infoRequest;
    this._infoStatus = 'loading';
    this._infoChanged.emit();
    try {
      const info = await this.client.info();
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
      this._infoError = error instanceof Error ? error.message : String(error);
      this._infoStatus = 'error';
    }
    this._infoChanged.emit();
  }

  setNotebook(
    path: string | null,
    content: (() => unknown) | null = null,
    cells: INotebookCells | null = null
  ) {
    this.pipeline.setNotebook(path, content);
    this.runs.setPath(path);
    this.proposal.setNotebook(path, content, cells);
    this.verify.setPath(path);
  }

  private _info: IServerInfo | null = null;
  private _infoStatus: FetchStatus = 'idle';
  private _infoError: string | null = null;
  private _infoRequest = 0;
  private _infoChanged = new Signal<IMlopsModel, void>(this);
}

export namespace MlopsModel {
  export interface IOptions {
    /** The server settings; defaults to `ServerConnection.makeSettings()`. */
    serverSettings?: ServerConnection.ISettings;
    /** The server's event bus (`app.serviceManager.events`). */
    events?: Event.IManager | null;
  }
}
