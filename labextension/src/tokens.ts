import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { IPipeline, IServerInfo } from './api';

/**
 * The state of a value fetched from the server.
 */
export type FetchStatus = 'idle' | 'loading' | 'ready' | 'error';

/**
 * The MLOps model: what the server says about itself and about the notebook
 * currently focused. Views and other plugins observe it through its signals.
 */
export interface IMlopsModel {
  /** The server info, once fetched. */
  readonly info: IServerInfo | null;
  /** The state of the info request. */
  readonly infoStatus: FetchStatus;
  /** The error message of the last info request, if it failed. */
  readonly infoError: string | null;
  /** Emitted when `info`, `infoStatus` or `infoError` change. */
  readonly infoChanged: ISignal<IMlopsModel, void>;

  /** The path (relative to the server root) of the notebook followed. */
  readonly notebookPath: string | null;
  /** The compiled pipeline of `notebookPath`, once fetched. */
  readonly pipeline: IPipeline | null;
  /** The state of the pipeline request. */
  readonly pipelineStatus: FetchStatus;
  /** The error message (the server's) of the last compile, if it failed. */
  readonly pipelineError: string | null;
  /** Emitted when the notebook path or the pipeline state change. */
  readonly pipelineChanged: ISignal<IMlopsModel, void>;

  /**
   * Whether pipeline compiles are wanted (e.g. a view showing them is
   * visible). While inactive, changes only mark the pipeline as stale.
   */
  active: boolean;

  /** Fetch the server info again. */
  refreshInfo(): Promise<void>;
  /** Follow another notebook (or none); compiles it when active. */
  setNotebookPath(path: string | null): void;
  /** Compile the followed notebook again (e.g. after a save). */
  refreshPipeline(): Promise<void>;
}

/**
 * The token of the MLOps model, provided by the `jupyter-mlops:model` plugin.
 */
export const IMlopsModel = new Token<IMlopsModel>(
  'jupyter-mlops:IMlopsModel',
  'The jupyter-mlops model: server info and the pipeline of the current notebook.'
);
