import { LabIcon } from '@jupyterlab/ui-components';

/**
 * A small pipeline glyph: three connected nodes (theme-aware via `jp-icon3`).
 */
const mlopsSvgstr = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="5" cy="6" r="3"/>
    <circle cx="5" cy="18" r="3"/>
    <circle cx="19" cy="12" r="3.5"/>
    <path d="M7.4 7.3l8.2 3.6-.8 1.8-8.2-3.6zM7.4 16.7l8.2-3.6-.8-1.8-8.2 3.6z"/>
  </g>
</svg>`;

export const mlopsIcon = new LabIcon({
  name: 'jupyter-mlops:icon',
  svgstr: mlopsSvgstr
});
