import dagre from '@dagrejs/dagre';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IPipeline } from '../api';
import { stepColor } from '../colors';
import { IStepState } from '../models/runs';
import { statusLabel } from './common';

const NODE_HEIGHT = 30;
const CHAR_WIDTH = 7;

/**
 * Lay out the step graph with dagre: nodes are steps, edges carry the
 * variables passed from one step to the next.
 */
export function layoutPipeline(pipeline: IPipeline) {
  const graph = new dagre.graphlib.Graph({ multigraph: false });
  graph.setGraph({
    rankdir: 'TB',
    nodesep: 16,
    ranksep: 30,
    marginx: 4,
    marginy: 4
  });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const step of pipeline.steps) {
    const reads = step.params_read?.length ? step.params_read.join(', ') : '';
    const width =
      Math.max(
        clip(step.name).length,
        clip(reads, 2 * MAX_LABEL).length * 0.85
      ) *
        CHAR_WIDTH +
      28;
    graph.setNode(step.name, {
      width,
      height: reads ? NODE_HEIGHT + 12 : NODE_HEIGHT
    });
  }
  for (const step of pipeline.steps) {
    const byProducer = new Map<string, string[]>();
    for (const [variable, producer] of Object.entries(step.inputs ?? {})) {
      byProducer.set(producer, [...(byProducer.get(producer) ?? []), variable]);
    }
    for (const upstream of step.upstream ?? []) {
      if (!byProducer.has(upstream)) {
        byProducer.set(upstream, []);
      }
    }
    for (const [producer, variables] of byProducer) {
      if (!graph.hasNode(producer)) {
        continue;
      }
      const label = variables.sort().join(', ');
      graph.setEdge(producer, step.name, {
        label,
        width: label.length * 6,
        height: label ? 14 : 0,
        labelpos: 'c'
      });
    }
  }
  dagre.layout(graph);
  return graph;
}

/**
 * The pipeline DAG: one node per step, coloured by its state in the run shown.
 */
export function DagView(props: {
  pipeline: IPipeline;
  states: { [step: string]: IStepState } | null;
  highlighted: string | null;
  trans: TranslationBundle;
  onSelect: (step: string) => void;
}): JSX.Element {
  const { pipeline, states, highlighted, trans } = props;
  const graph = React.useMemo(() => layoutPipeline(pipeline), [pipeline]);
  const size = graph.graph();
  const width = Math.max(size.width ?? 0, 40);
  const height = Math.max(size.height ?? 0, 20);
  return (
    <svg
      className="jp-mlops-dag"
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      style={{ maxWidth: `${width}px` }}
      role="group"
      aria-label={trans.__('Pipeline graph')}
    >
      <defs>
        <marker
          id="jp-mlops-arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="6"
          markerHeight="6"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" className="jp-mlops-dag-arrow" />
        </marker>
      </defs>
      {graph.edges().map(e => {
        const edge = graph.edge(e) as any;
        const points: { x: number; y: number }[] = edge.points ?? [];
        const d = points
          .map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`)
          .join(' ');
        return (
          <g
            key={`${e.v}->${e.w}`}
            className="jp-mlops-dag-edge"
            data-from={e.v}
            data-to={e.w}
          >
            <path d={d} markerEnd="url(#jp-mlops-arrow)" />
            {edge.label ? (
              <text
                x={edge.x}
                y={edge.y + 4}
                textAnchor="middle"
                className="jp-mlops-dag-edge-label"
              >
                {edge.label}
              </text>
            ) : null}
          </g>
        );
      })}
      {graph.nodes().map(name => {
        const node = graph.node(name) as any;
        const step = pipeline.steps.find(s => s.name === name);
        const status = states?.[name]?.status ?? 'none';
        const label =
          status === 'none' ? name : `${name}: ${statusLabel(trans, status)}`;
        return (
          <g
            key={name}
            className={`jp-mlops-dag-node${highlighted === name ? ' jp-mod-highlighted' : ''}`}
            data-step={name}
            data-status={status}
            transform={`translate(${node.x - node.width / 2}, ${node.y - node.height / 2})`}
            role="button"
            tabIndex={0}
            aria-label={label}
            onClick={() => props.onSelect(name)}
            onKeyDown={event => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                props.onSelect(name);
              }
            }}
          >
            <title>{label}</title>
            <rect width={node.width} height={node.height} rx={5} />
            <rect
              className="jp-mlops-dag-step-color"
              x={1}
              y={1}
              width={5}
              height={node.height - 2}
              rx={2}
              style={{ fill: stepColor(name), stroke: 'none' }}
            />
            <text
              x={node.width / 2}
              y={19}
              textAnchor="middle"
              className="jp-mlops-dag-label"
            >
              {clip(name)}
            </text>
            {step?.params_read?.length ? (
              <text
                x={node.width / 2}
                y={33}
                textAnchor="middle"
                className="jp-mlops-dag-reads"
              >
                {clip(step.params_read.join(', '), 2 * MAX_LABEL)}
              </text>
            ) : null}
          </g>
        );
      })}
    </svg>
  );
}

/** Longest label drawn in a node; the full name is in the node's tooltip. Without a cap
 * one long step name widens its node and the whole graph is scaled down to fit. */
const MAX_LABEL = 18;

function clip(text: string, max = MAX_LABEL): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
