import { Widget } from '@lumino/widgets';

import { IPipeline, IPipelineStep } from '../api';
import { IMlopsModel } from '../tokens';

/**
 * Shows the steps of the pipeline compiled from the notebook in focus.
 */
export class PipelineView extends Widget {
  constructor(model: IMlopsModel) {
    super();
    this._model = model;
    this.addClass('jp-mlops-pipeline');

    const title = document.createElement('h3');
    title.className = 'jp-mlops-section-title';
    title.textContent = 'Pipeline';
    this._notebook = document.createElement('div');
    this._notebook.className = 'jp-mlops-pipeline-notebook';
    this._status = document.createElement('div');
    this._status.className = 'jp-mlops-pipeline-status';
    this._error = document.createElement('div');
    this._error.className = 'jp-mlops-error jp-mlops-pipeline-error';
    this._error.setAttribute('role', 'alert');
    this._steps = document.createElement('ol');
    this._steps.className = 'jp-mlops-steps';
    this._warnings = document.createElement('ul');
    this._warnings.className = 'jp-mlops-warnings';

    this.node.append(
      title,
      this._notebook,
      this._status,
      this._error,
      this._steps,
      this._warnings
    );
    model.pipelineChanged.connect(this._render, this);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.pipelineChanged.disconnect(this._render, this);
    super.dispose();
  }

  private _render(): void {
    const { notebookPath, pipeline, pipelineStatus, pipelineError } =
      this._model;
    this.node.dataset.status = pipelineStatus;
    this._steps.replaceChildren();
    this._warnings.replaceChildren();
    this._error.textContent = pipelineError ?? '';
    this._error.hidden = !pipelineError;

    if (notebookPath === null) {
      this._notebook.textContent = '';
      this._status.textContent = 'Open a notebook to see its pipeline.';
      return;
    }
    this._notebook.textContent = notebookPath;
    this._notebook.title = notebookPath;

    switch (pipelineStatus) {
      case 'loading':
        this._status.textContent = 'Compiling…';
        return;
      case 'error':
        this._status.textContent = 'The notebook does not compile:';
        return;
      case 'idle':
        this._status.textContent = '';
        return;
    }
    if (!pipeline) {
      return;
    }
    const count = pipeline.steps.length;
    const params = Object.keys(pipeline.parameters ?? {});
    this._status.textContent =
      `${count} step${count === 1 ? '' : 's'}` +
      (params.length ? ` · parameters: ${params.join(', ')}` : '');
    const summary = Private.summary(pipeline);
    if (summary) {
      this._status.textContent += ` · ${summary}`;
    }
    for (const step of pipeline.steps) {
      this._steps.append(Private.renderStep(step));
    }
    for (const warning of pipeline.warnings ?? []) {
      const item = document.createElement('li');
      item.textContent = warning;
      this._warnings.append(item);
    }
  }

  private _model: IMlopsModel;
  private _notebook: HTMLDivElement;
  private _status: HTMLDivElement;
  private _error: HTMLDivElement;
  private _steps: HTMLOListElement;
  private _warnings: HTMLUListElement;
}

namespace Private {
  /**
   * "model: clf (train) · metrics: accuracy, f1" when the pipeline has them.
   */
  export function summary(pipeline: IPipeline): string {
    const parts: string[] = [];
    const model = pipeline.model as { step?: string; variable?: string } | null;
    if (model && typeof model === 'object' && model.variable) {
      parts.push(
        `model: ${model.variable}` + (model.step ? ` (${model.step})` : '')
      );
    }
    const metrics = pipeline.metrics;
    if (Array.isArray(metrics) && metrics.length) {
      parts.push(`metrics: ${metrics.join(', ')}`);
    }
    return parts.join(' · ');
  }

  export function renderStep(step: IPipelineStep): HTMLLIElement {
    const item = document.createElement('li');
    item.className = 'jp-mlops-step';
    item.dataset.step = step.name;

    const name = document.createElement('span');
    name.className = 'jp-mlops-step-name';
    name.textContent = step.name;
    item.append(name);

    const details: string[] = [];
    const cells = step.cells ?? [];
    details.push(`${cells.length} cell${cells.length === 1 ? '' : 's'}`);
    if (step.upstream?.length) {
      details.push(`after ${step.upstream.join(', ')}`);
    }
    const inputs = Object.keys(step.inputs ?? {});
    if (inputs.length) {
      details.push(`in: ${inputs.join(', ')}`);
    }
    if (step.outputs?.length) {
      details.push(`out: ${step.outputs.join(', ')}`);
    }
    const meta = document.createElement('span');
    meta.className = 'jp-mlops-step-details';
    meta.textContent = details.join(' · ');
    item.append(meta);
    return item;
  }
}
