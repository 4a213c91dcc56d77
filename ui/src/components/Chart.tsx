// ECharts, tree-shaken to the charts the dashboard draws, in a small React wrapper that
// follows the colour scheme and the container's size.

import { useEffect, useRef } from 'react';
import { useComputedColorScheme } from '@mantine/core';
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { EChartsCoreOption } from 'echarts/core';

echarts.use([BarChart, LineChart, PieChart, GridComponent, LegendComponent, TooltipComponent, CanvasRenderer]);

/** A chart; `label` is what a screen reader says of it: its title and what it shows. */
export function Chart({ option, label, height = 240, testId }: { option: EChartsCoreOption; label: string; height?: number; testId?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const scheme = useComputedColorScheme('light');
  useEffect(() => {
    if (!ref.current) return;
    const instance = echarts.init(ref.current, scheme === 'dark' ? 'dark' : undefined, { renderer: 'canvas' });
    chart.current = instance;
    // The tooltip leaves with the pointer, however fast it leaves the chart.
    instance.getZr().on('globalout', () => instance.dispatchAction({ type: 'hideTip' }));
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(ref.current);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, [scheme]);
  useEffect(() => {
    // A tooltip stays inside its chart: never over the header or off the window.
    const tooltip = option.tooltip && { confine: true, ...(option.tooltip as object) };
    chart.current?.setOption({ backgroundColor: 'transparent', ...option, tooltip }, { notMerge: true, lazyUpdate: true });
  }, [option, scheme]);
  return <div ref={ref} style={{ width: '100%', height }} data-testid={testId} role="img" aria-label={label} />;
}
