// Inline SVG charts for the HTML reports: time series with fault bands, x-y charts with a
// numeric x axis (a measure against an offered rate), and a histogram.
//
// Charts are rendered in C++ to plain SVG markup (no script, no external references), so a
// report reads the same in a browser, a CI artifact viewer and on paper. Every fault band is a
// <g class="fault-band" data-fault="N"> holding a shaded rect, a label and a <title> tooltip;
// every chart draws every band it is given, clipped to its time axis. A time chart is followed
// by a <script type="application/json" class="chart-data"> block with its samples, which the
// report's script uses for a hover readout; the chart reads fully without it. An x-y chart marks
// every point as a <circle class="point" data-x data-y> with a <title> giving its values.
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ingestlab::reports {

struct ChartLine {
  std::string name;            // legend text
  std::string color;           // CSS colour, e.g. "#1f77b4"
  std::vector<double> values;  // one per time sample; NaN = no sample (the line breaks)
  bool dashed = false;
};

// A fault drawn as a shaded band across a time chart; until_s <= from_s draws a thin marker.
struct FaultBand {
  int number = 0;  // shown as "F<number>"
  double from_s = 0;
  double until_s = 0;
  std::string label;    // short text on the band, e.g. "kill_ingestd"
  std::string tooltip;  // longer text for the <title>
};

struct TimeChart {
  std::string id;           // element id, e.g. "chart-latency"
  std::string title;        // accessible title
  std::string y_label;      // axis title with unit, e.g. "latency (ms)"
  std::string value_unit;   // unit after a value in the hover readout, e.g. "ms"
  std::vector<double> t_s;  // sample times in seconds
  std::vector<ChartLine> lines;
  std::vector<FaultBand> bands;
  // The x axis spans the samples, [0, min_span_s] (e.g. the run duration) and every band.
  double min_span_s = 0;
  // Switch to a logarithmic value axis when the largest value is at least kLogScaleRatio times
  // the smallest positive one (a latency spike would otherwise flatten normal latencies).
  bool log_scale_when_wide = false;
};

inline constexpr double kLogScaleRatio = 100;

struct Histogram {
  std::string id;
  std::string title;
  std::vector<double> bounds_ms;  // upper bounds of the buckets
  std::vector<double> counts;     // bounds_ms.size() + 1 entries; the last is "above"
};

// One series of an x-y chart: the points (x[i], y[i]) joined in the order given. A point with
// a NaN coordinate is left out and breaks the line; extra values in the longer vector are ignored.
struct XYSeries {
  std::string name;   // legend text
  std::string color;  // CSS colour
  std::vector<double> x;
  std::vector<double> y;
  bool dashed = false;
};

// A labelled horizontal line across an x-y chart, e.g. a latency target.
struct HorizontalMarker {
  std::string label;  // e.g. "p99 target 25 ms"
  std::string color;
  double y = 0;  // NaN or infinite: not drawn
};

struct XYChart {
  std::string id;          // element id, e.g. "chart-throughput-vs-offered"
  std::string title;       // accessible title
  std::string x_label;     // axis title with unit, e.g. "offered rate (events/s)"
  std::string y_label;     // axis title with unit
  std::string value_unit;  // unit after a value in a point's tooltip, e.g. "ms"
  std::vector<XYSeries> series;
  std::vector<HorizontalMarker> markers;  // the value axis always reaches every marker
  // Draws the diagonal y = x as a dashed line in the legend as identity_label; both axes then
  // share one range so the diagonal runs corner to corner. Not drawn on a log value axis.
  bool identity_line = false;
  std::string identity_label;
  // As for TimeChart: a logarithmic value axis when the values span kLogScaleRatio or more.
  bool log_scale_when_wide = false;
};

// Indices of the samples to keep so at most max_points remain: per bucket of samples the
// minimum and the maximum (in time order), so spikes and dips survive downsampling.
// Returns all indices when values.size() <= max_points. REQUIRES: max_points >= 4.
std::vector<size_t> DownsampleMinMax(const std::vector<double>& values, size_t max_points);

// Points per line kept in a time chart (longer series are downsampled with DownsampleMinMax).
inline constexpr size_t kMaxPointsPerLine = 400;
// Samples per line embedded for the hover readout (longer series are evenly strided).
inline constexpr size_t kMaxReadoutPoints = 600;

// The <svg> followed by its chart-data block.
std::string RenderTimeChart(const TimeChart& chart);
std::string RenderHistogram(const Histogram& histogram);
// The <svg> alone (no hover data block). Both axes start at 0; a negative value sits on its axis.
std::string RenderXYChart(const XYChart& chart);

}  // namespace ingestlab::reports
