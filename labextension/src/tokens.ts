import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

import { IServerInfo, MlopsClient } from './api';
import type { PipelineModel } from './models/pipeline';
import type { INotebookCells, ProposalModel } from './models/proposal';
import type { RegistryModel } from './models/registry';
import type { RunsModel } from './models/runs';
import type { VerifyModel } from './models/verify';

/**
 * The state of a value fetched from the server.
 */
export type FetchStatus = 'idle' | 'loading' | 'ready' | 'error';

/**
 * The MLOps model: the server info, and the models of each feature (pipeline
 * of the notebook in focus, runs, registry). Views observe their signals.
 */
export interface IMlopsModel {
  /** The REST client. */
  readonly client: MlopsClient;
  /** The server info, once fetched. */
  readonly info: IServerInfo | null;
  /** The state of the info request. */
  readonly infoStatus: FetchStatus;
  /** The error message of the last info request, if it failed. */
  readonly infoError: string | null;
  /** Emitted when `info`, `infoStatus` or `infoError` change. */
  readonly infoChanged: ISignal<IMlopsModel, void>;
  /** Fetch the server info again. */
  refreshInfo(): Promise<void>;

  /** The pipeline of the notebook in focus and its parameter values. */
  readonly pipeline: PipelineModel;
  /** Runs: live states, history. */
  readonly runs: RunsModel;
  /** Registered models, publishing, aliases. */
  readonly registry: RegistryModel;
  /** Proposed step tags for the notebook followed (accept, undo). */
  readonly proposal: ProposalModel;
  /** Whether the pipeline computes what the notebook computes. */
  readonly verify: VerifyModel;
  /** The path of the notebook followed. */
  readonly notebookPath: string | null;
  /**
   * Follow a notebook (or none); `content` gives its JSON as in the editor,
   * `cells` reads and writes its cells' tags.
   */
  setNotebook(
    path: string | null,
    content?: (() => unknown) | null,
    cells?: INotebookCells | null
  ): void;
}

/**
 * The token of the MLOps model, provided by the `jupyter-mlops:model` plugin.
 */
export const IMlopsModel = new Token<IMlopsModel>(
  'jupyter-mlops:IMlopsModel',
  'The jupyter-mlops model: server info, pipeline, runs and registry.'
);
