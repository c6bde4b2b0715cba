// Inline SVG charts (see svg_chart.h).
#include "reports/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "reports/html_util.h"

namespace ingestlab::reports {
namespace {

constexpr double kWidth = 960;
constexpr double kHeight = 250;
constexpr double kLeft = 64;
constexpr double kRight = 16;
constexpr double kTop = 30;
constexpr double kBottom = 42;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;
// Bounds the tick loops even for absurd values (1e308 overflows a step sum to infinity).
constexpr size_t kMaxTicks = 24;

// Values beyond this magnitude are no real measurement; they are left out like missing ones,
// so an absurd input cannot overflow the axis arithmetic.
constexpr double kMaxPlottable = 1e15;

bool Plottable(double v) { return std::isfinite(v) && std::fabs(v) <= kMaxPlottable; }

// Up to 6 significant digits, for data attributes read by script.
std::string Precise(double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Fixed(double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

// A round step (1, 2, 2.5 or 5 times a power of ten) giving about target_ticks ticks.
double NiceStep(double range, int target_ticks) {
  if (!(range > 0)) return 1;
  const double raw = range / target_ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double normalized = raw / magnitude;
  double step = 10;
  if (normalized <= 1) {
    step = 1;
  } else if (normalized <= 2) {
    step = 2;
  } else if (normalized <= 2.5) {
    step = 2.5;
  } else if (normalized <= 5) {
    step = 5;
  }
  return step * magnitude;
}

// extra_attributes: already-escaped markup such as ` data-x0="0"`.
std::string SvgOpen(const std::string& id, const std::string& title,
                    const std::string& extra_attributes = "") {
  return "<svg class=\"chart\" id=\"" + HtmlEscape(id) + "\"" + extra_attributes +
         " viewBox=\"0 0 " + Fixed(kWidth) + " " + Fixed(kHeight) +
         "\" preserveAspectRatio=\"xMidYMid meet\" role=\"img\" " + "aria-label=\"" +
         HtmlEscape(title) + "\"><title>" + HtmlEscape(title) + "</title>";
}

// "no samples recorded" and the like, centred in the plot area; `what` is trusted text.
std::string NoDataText(const char* what) {
  return "<text class=\"no-data\" x=\"" + Fixed(kLeft + kPlotWidth / 2) + "\" y=\"" +
         Fixed(kTop + kPlotHeight / 2) + "\" text-anchor=\"middle\">" + what + "</text>";
}

// The rectangle around the plot area.
std::string PlotFrame() {
  return "<rect class=\"frame\" x=\"" + Fixed(kLeft) + "\" y=\"" + Fixed(kTop) + "\" width=\"" +
         Fixed(kPlotWidth) + "\" height=\"" + Fixed(kPlotHeight) + "\"/>";
}

// A legend entry at *legend_x (a line sample and the name); moves *legend_x past it.
std::string LegendEntry(double* legend_x, const std::string& name, const std::string& color,
                        bool dashed) {
  std::string out = "<line x1=\"" + Fixed(*legend_x) + "\" x2=\"" + Fixed(*legend_x + 20) +
                    "\" y1=\"14\" y2=\"14\" stroke=\"" + HtmlEscape(color) + "\"" +
                    (dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>";
  out += "<text x=\"" + Fixed(*legend_x + 25) + "\" y=\"18\">" + HtmlEscape(name) + "</text>";
  *legend_x += 40 + 7 * static_cast<double>(name.size());
  return out;
}

// The legend's group, opened with an entry per line (a ChartLine or an XYSeries) from *legend_x
// on; *legend_x is left past the last entry, for any entry added after them.
template <typename Line>
std::string LegendOf(const std::vector<Line>& lines, double* legend_x) {
  std::string out = "<g class=\"legend\">";
  for (const Line& line : lines) out += LegendEntry(legend_x, line.name, line.color, line.dashed);
  return out;
}

// The x axis: a tick at first, first + step, ... up to last (at most kMaxTicks), placed by x_of
// and labelled with the value, and the axis title under them.
template <typename XOf>
std::string XAxis(double first, double last, double step, const XOf& x_of,
                  const std::string& title) {
  std::string out = "<g class=\"axis x-axis\">";
  size_t ticks = 0;
  for (double v = first; v <= last + step / 1000 && ticks < kMaxTicks; v += step, ++ticks) {
    const double x = x_of(v);
    out += "<line class=\"tick-mark\" x1=\"" + Fixed(x) + "\" x2=\"" + Fixed(x) + "\" y1=\"" +
           Fixed(kTop + kPlotHeight) + "\" y2=\"" + Fixed(kTop + kPlotHeight + 4) + "\"/>";
    out += "<text class=\"tick\" x=\"" + Fixed(x) + "\" y=\"" + Fixed(kTop + kPlotHeight + 16) +
           "\" text-anchor=\"middle\">" + HtmlEscape(FormatCompact(v)) + "</text>";
  }
  return out + "<text class=\"axis-title\" x=\"" + Fixed(kLeft + kPlotWidth / 2) + "\" y=\"" +
         Fixed(kHeight - 6) + "\" text-anchor=\"middle\">" + HtmlEscape(title) + "</text></g>";
}

double MaxFinite(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) {
    if (Plottable(v)) m = std::max(m, v);
  }
  return m;
}

// The value axis: linear from 0, or logarithmic over whole powers of ten.
class YScale {
 public:
  static YScale Linear(double data_max) {
    YScale s;
    if (!(data_max > 0)) data_max = 1;  // all zero or empty: a 0..1 axis
    s.step_ = NiceStep(data_max > 0 ? data_max : 1, 4);
    s.hi_ = std::max(s.step_, std::ceil(data_max / s.step_) * s.step_);
    return s;
  }
  static YScale Log(double min_positive, double data_max) {
    YScale s;
    s.log_ = true;
    s.lo_ = std::pow(10.0, std::floor(std::log10(min_positive)));
    s.hi_ = std::pow(10.0, std::ceil(std::log10(data_max)));
    s.lo_ = std::max(s.lo_, s.hi_ / 1e12);  // at most twelve decades
    if (!(s.hi_ > s.lo_)) s.hi_ = s.lo_ * 10;
    return s;
  }
  bool log() const { return log_; }
  double hi() const { return hi_; }

  // Vertical position of a value; values at or below the axis floor sit on the baseline.
  double Y(double v) const {
    double fraction = 0;
    if (log_) {
      fraction = v <= lo_ ? 0 : std::log10(v / lo_) / std::log10(hi_ / lo_);
    } else {
      fraction = v / hi_;
    }
    return kTop + kPlotHeight - std::clamp(fraction, 0.0, 1.0) * kPlotHeight;
  }

  // Grid lines, tick labels and the axis title.
  std::string Axis(const std::string& y_label) const {
    std::string out = "<g class=\"axis y-axis\">";
    std::vector<double> ticks;
    if (log_) {
      for (double v = lo_; v <= hi_ * 1.0001 && ticks.size() < kMaxTicks; v *= 10) {
        ticks.push_back(v);
      }
    } else {
      for (double v = 0; v <= hi_ + step_ / 2 && ticks.size() < kMaxTicks; v += step_) {
        ticks.push_back(v);
      }
    }
    for (double v : ticks) {
      const double y = Y(v);
      out += "<line class=\"grid\" x1=\"" + Fixed(kLeft) + "\" x2=\"" + Fixed(kLeft + kPlotWidth) +
             "\" y1=\"" + Fixed(y) + "\" y2=\"" + Fixed(y) + "\"/>";
      out += "<text class=\"tick\" x=\"" + Fixed(kLeft - 6) + "\" y=\"" + Fixed(y + 4) +
             "\" text-anchor=\"end\">" + HtmlEscape(FormatCompact(v)) + "</text>";
    }
    const double mid = kTop + kPlotHeight / 2;
    out += "<text class=\"axis-title\" transform=\"translate(14 " + Fixed(mid) +
           ") rotate(-90)\" text-anchor=\"middle\">" +
           HtmlEscape(y_label + (log_ ? ", log scale" : "")) + "</text></g>";
    return out;
  }

 private:
  bool log_ = false;
  double lo_ = 0;
  double hi_ = 1;
  double step_ = 1;
};

// The samples behind a time chart as a JSON data block (never executed) for the hover
// readout: at most kMaxReadoutPoints per line, evenly strided. '<' is escaped so no value can
// close the element.
std::string ReadoutData(const TimeChart& chart) {
  const size_t n = chart.t_s.size();
  const size_t stride = n > kMaxReadoutPoints ? (n + kMaxReadoutPoints - 1) / kMaxReadoutPoints : 1;
  const auto rounded = [](double v) -> nlohmann::json {
    if (!Plottable(v)) return nullptr;
    return std::fabs(v) >= 1e6 ? std::round(v) : std::round(v * 1000) / 1000;
  };
  nlohmann::json data = {{"unit", chart.value_unit},
                         {"t", nlohmann::json::array()},
                         {"lines", nlohmann::json::array()}};
  for (size_t i = 0; i < n; i += stride) data["t"].push_back(rounded(chart.t_s[i]));
  for (const ChartLine& line : chart.lines) {
    nlohmann::json values = nlohmann::json::array();
    for (size_t i = 0; i < n; i += stride) {
      values.push_back(i < line.values.size() ? rounded(line.values[i]) : nullptr);
    }
    data["lines"].push_back({{"name", line.name}, {"color", line.color}, {"values", values}});
  }
  std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      escaped += "\\u003c";
    } else {
      escaped += c;
    }
  }
  return "<script type=\"application/json\" class=\"chart-data\" data-for=\"" +
         HtmlEscape(chart.id) + "\">" + escaped + "</script>";
}

}  // namespace

std::vector<size_t> DownsampleMinMax(const std::vector<double>& values, size_t max_points) {
  std::vector<size_t> keep;
  const size_t n = values.size();
  if (n <= max_points) {
    keep.resize(n);
    for (size_t i = 0; i < n; ++i) keep[i] = i;
    return keep;
  }
  // The first and last samples are kept; the rest fall into buckets of two kept points each.
  const size_t buckets = (max_points - 2) / 2;
  keep.push_back(0);
  const double per_bucket = static_cast<double>(n - 2) / static_cast<double>(buckets);
  for (size_t b = 0; b < buckets; ++b) {
    const size_t begin = 1 + static_cast<size_t>(std::floor(b * per_bucket));
    const size_t end = std::min(n - 1, 1 + static_cast<size_t>(std::floor((b + 1) * per_bucket)));
    if (begin >= end) continue;
    size_t lo = end, hi = end;
    for (size_t i = begin; i < end; ++i) {
      if (!Plottable(values[i])) continue;
      if (lo == end || values[i] < values[lo]) lo = i;
      if (hi == end || values[i] > values[hi]) hi = i;
    }
    if (lo == end) {
      keep.push_back(begin);  // a bucket without samples: keep one gap so the line breaks
      continue;
    }
    keep.push_back(std::min(lo, hi));
    if (lo != hi) keep.push_back(std::max(lo, hi));
  }
  keep.push_back(n - 1);
  return keep;
}

std::string RenderTimeChart(const TimeChart& chart) {
  // X domain: the samples, stretched to cover [0, min_span_s].
  double x0 = 0, x1 = Plottable(chart.min_span_s) ? std::max(0.0, chart.min_span_s) : 0;
  for (double t : chart.t_s) {
    if (!Plottable(t)) continue;
    x0 = std::min(x0, t);
    x1 = std::max(x1, t);
  }
  // Faults scheduled past the last sample (a run that ended early) still show where they were.
  for (const FaultBand& band : chart.bands) {
    for (double t : {band.from_s, band.until_s}) {
      if (Plottable(t)) x1 = std::max(x1, t);
    }
  }
  if (!(x1 > x0)) x1 = x0 + 1;
  const auto x_of = [&](double t) { return kLeft + (t - x0) / (x1 - x0) * kPlotWidth; };

  double data_max = 0;
  double min_positive = std::numeric_limits<double>::infinity();
  for (const ChartLine& line : chart.lines) {
    data_max = std::max(data_max, MaxFinite(line.values));
    for (double v : line.values) {
      if (Plottable(v) && v > 0) min_positive = std::min(min_positive, v);
    }
  }
  const bool wide = std::isfinite(min_positive) && data_max / min_positive >= kLogScaleRatio;
  const YScale scale = chart.log_scale_when_wide && wide ? YScale::Log(min_positive, data_max)
                                                         : YScale::Linear(data_max);
  const auto y_of = [&](double v) { return scale.Y(v); };

  // The plot geometry and x domain, for the hover readout in report.js.
  const std::string geometry = " data-x0=\"" + Precise(x0) + "\" data-x1=\"" + Precise(x1) +
                               "\" data-plot-left=\"" + Fixed(kLeft) + "\" data-plot-width=\"" +
                               Fixed(kPlotWidth) + "\" data-plot-top=\"" + Fixed(kTop) +
                               "\" data-plot-height=\"" + Fixed(kPlotHeight) + "\"";
  std::string out = SvgOpen(chart.id, chart.title, geometry);
  out += scale.Axis(chart.y_label);

  // X ticks in seconds.
  const double x_step = NiceStep(x1 - x0, 8);
  out += XAxis(std::ceil(x0 / x_step) * x_step, x1, x_step, x_of, "time since start (s)");

  // Fault bands under the lines, every one drawn even when outside the sampled span.
  out += "<g class=\"fault-bands\">";
  for (size_t i = 0; i < chart.bands.size(); ++i) {
    const FaultBand& band = chart.bands[i];
    const double from = std::clamp(band.from_s, x0, x1);
    const double until = std::clamp(std::max(band.until_s, band.from_s), x0, x1);
    const double left = x_of(from);
    const double width = std::max(2.0, x_of(until) - left);
    const std::string label = "F" + std::to_string(band.number) + " " + band.label;
    const double label_y = kTop + 11 + static_cast<double>(i % 3) * 12;
    const bool anchor_end = left + 8 + 6.5 * static_cast<double>(label.size()) > kLeft + kPlotWidth;
    const double label_x = anchor_end ? std::min(left + width, kLeft + kPlotWidth) - 3 : left + 3;
    out += "<g class=\"fault-band\" data-fault=\"" + std::to_string(band.number) +
           "\" data-from=\"" + Precise(band.from_s) + "\" data-until=\"" +
           Precise(std::max(band.until_s, band.from_s)) + "\" data-label=\"" + HtmlEscape(label) +
           "\"><title>" + HtmlEscape(band.tooltip) + "</title>";
    out += "<rect x=\"" + Fixed(left) + "\" y=\"" + Fixed(kTop) + "\" width=\"" + Fixed(width) +
           "\" height=\"" + Fixed(kPlotHeight) + "\"/>";
    out += "<text x=\"" + Fixed(label_x) + "\" y=\"" + Fixed(label_y) + "\"" +
           (anchor_end ? " text-anchor=\"end\"" : "") + ">" + HtmlEscape(label) + "</text></g>";
  }
  out += "</g>";

  // Lines.
  bool any_sample = false;
  out += "<g class=\"lines\">";
  for (const ChartLine& line : chart.lines) {
    const size_t n = std::min(line.values.size(), chart.t_s.size());
    std::vector<double> values(line.values.begin(), line.values.begin() + n);
    std::string path;
    bool pen_down = false;
    for (size_t i : DownsampleMinMax(values, kMaxPointsPerLine)) {
      if (!Plottable(values[i]) || !Plottable(chart.t_s[i])) {
        pen_down = false;
        continue;
      }
      any_sample = true;
      path += pen_down ? "L" : "M";
      path += Fixed(x_of(chart.t_s[i])) + " " + Fixed(y_of(values[i]));
      pen_down = true;
    }
    out += "<path class=\"series\" data-series=\"" + HtmlEscape(line.name) + "\" d=\"" + path +
           "\" stroke=\"" + HtmlEscape(line.color) + "\"" +
           (line.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>";
  }
  out += "</g>";
  if (!any_sample) out += NoDataText("no samples recorded");

  // Plot frame and legend.
  double legend_x = kLeft;
  out += PlotFrame() + LegendOf(chart.lines, &legend_x);
  if (!chart.bands.empty()) {
    out += "<rect class=\"legend-fault\" x=\"" + Fixed(legend_x) +
           "\" y=\"7\" width=\"16\" height=\"12\"/><text x=\"" + Fixed(legend_x + 21) +
           "\" y=\"18\">fault (see timeline)</text>";
  }
  out += "</g></svg>";
  out += ReadoutData(chart);
  return out;
}

std::string RenderHistogram(const Histogram& histogram) {
  const size_t n = histogram.counts.size();
  std::string out = SvgOpen(histogram.id, histogram.title);
  double total = 0;
  for (double c : histogram.counts) total += Plottable(c) && c > 0 ? c : 0;
  const double data_max = MaxFinite(histogram.counts);
  const YScale scale = YScale::Linear(data_max);
  out += scale.Axis("events");

  const auto bucket_label = [&](size_t i) -> std::string {
    if (i < histogram.bounds_ms.size()) return "≤" + FormatCompact(histogram.bounds_ms[i]);
    if (histogram.bounds_ms.empty()) return "all";
    return ">" + FormatCompact(histogram.bounds_ms.back());
  };
  out += "<g class=\"bars\">";
  if (n > 0) {
    const double slot = kPlotWidth / static_cast<double>(n);
    const size_t label_every = (n + 15) / 16;
    for (size_t i = 0; i < n; ++i) {
      const double count =
          Plottable(histogram.counts[i]) && histogram.counts[i] > 0 ? histogram.counts[i] : 0;
      const double height = kTop + kPlotHeight - scale.Y(count);
      const double x = kLeft + slot * static_cast<double>(i);
      const double share = total > 0 ? count / total * 100 : 0;
      out += "<g class=\"bar\"><title>" + HtmlEscape(bucket_label(i)) +
             " ms: " + FormatNumber(count, 0) + " events (" + FormatNumber(share, 1) + "%)</title>";
      out += "<rect x=\"" + Fixed(x + slot * 0.1) + "\" y=\"" + Fixed(kTop + kPlotHeight - height) +
             "\" width=\"" + Fixed(slot * 0.8) + "\" height=\"" + Fixed(height) + "\"/>";
      if (count > 0 && slot >= 28) {
        out += "<text class=\"bar-count\" x=\"" + Fixed(x + slot / 2) + "\" y=\"" +
               Fixed(kTop + kPlotHeight - height - 3) + "\" text-anchor=\"middle\">" +
               HtmlEscape(FormatCompact(count)) + "</text>";
      }
      out += "</g>";
      if (i % label_every == 0) {
        out += "<text class=\"tick\" x=\"" + Fixed(x + slot / 2) + "\" y=\"" +
               Fixed(kTop + kPlotHeight + 16) + "\" text-anchor=\"middle\">" +
               HtmlEscape(bucket_label(i)) + "</text>";
      }
    }
  } else {
    out += NoDataText("no latencies recorded");
  }
  out += "</g><text class=\"axis-title\" x=\"" + Fixed(kLeft + kPlotWidth / 2) + "\" y=\"" +
         Fixed(kHeight - 6) + "\" text-anchor=\"middle\">end-to-end latency bucket (ms)</text>";
  return out + PlotFrame() + "</svg>";
}

std::string RenderXYChart(const XYChart& chart) {
  double x_max = 0, y_max = 0;
  double min_positive = std::numeric_limits<double>::infinity();
  bool any_point = false;
  for (const XYSeries& series : chart.series) {
    const size_t n = std::min(series.x.size(), series.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!Plottable(series.x[i]) || !Plottable(series.y[i])) continue;
      any_point = true;
      x_max = std::max(x_max, series.x[i]);
      y_max = std::max(y_max, series.y[i]);
      if (series.y[i] > 0) min_positive = std::min(min_positive, series.y[i]);
    }
  }
  for (const HorizontalMarker& marker : chart.markers) {
    if (!Plottable(marker.y)) continue;
    y_max = std::max(y_max, marker.y);
    if (marker.y > 0) min_positive = std::min(min_positive, marker.y);
  }
  const bool wide = std::isfinite(min_positive) && y_max / min_positive >= kLogScaleRatio;
  const bool log_axis = chart.log_scale_when_wide && wide;
  const bool identity = chart.identity_line && !log_axis;
  // With the diagonal both axes share one range, so y = x runs corner to corner.
  const YScale scale = log_axis   ? YScale::Log(min_positive, y_max)
                       : identity ? YScale::Linear(std::max(x_max, y_max))
                                  : YScale::Linear(y_max);
  double x_hi = 1;
  if (identity) {
    x_hi = scale.hi();
  } else if (x_max > 0) {
    const double step = NiceStep(x_max, 8);
    x_hi = std::max(step, std::ceil(x_max / step) * step);
  }
  const auto x_of = [&](double x) { return kLeft + std::clamp(x / x_hi, 0.0, 1.0) * kPlotWidth; };

  std::string out = SvgOpen(chart.id, chart.title, " data-kind=\"xy\"");
  out += scale.Axis(chart.y_label);

  out += XAxis(0, x_hi, NiceStep(x_hi, 8), x_of, chart.x_label);

  // Reference lines under the data.
  out += "<g class=\"references\">";
  if (identity) {
    out += "<line class=\"identity\" x1=\"" + Fixed(x_of(0)) + "\" y1=\"" + Fixed(scale.Y(0)) +
           "\" x2=\"" + Fixed(x_of(x_hi)) + "\" y2=\"" + Fixed(scale.Y(x_hi)) +
           "\" stroke=\"#7f7f7f\" stroke-dasharray=\"4 4\"><title>" +
           HtmlEscape(chart.identity_label) + "</title></line>";
  }
  for (const HorizontalMarker& marker : chart.markers) {
    if (!Plottable(marker.y)) continue;
    const double y = scale.Y(marker.y);
    out += "<g class=\"marker\" data-y=\"" + Precise(marker.y) + "\"><title>" +
           HtmlEscape(marker.label) + "</title><line x1=\"" + Fixed(kLeft) + "\" x2=\"" +
           Fixed(kLeft + kPlotWidth) + "\" y1=\"" + Fixed(y) + "\" y2=\"" + Fixed(y) +
           "\" stroke=\"" + HtmlEscape(marker.color) + "\" stroke-dasharray=\"8 4\"/><text x=\"" +
           Fixed(kLeft + 4) + "\" y=\"" + Fixed(y - 4) + "\" fill=\"" + HtmlEscape(marker.color) +
           "\">" + HtmlEscape(marker.label) + "</text></g>";
  }
  out += "</g>";

  out += "<g class=\"lines\">";
  for (const XYSeries& series : chart.series) {
    const size_t n = std::min(series.x.size(), series.y.size());
    std::string path, points;
    bool pen_down = false;
    for (size_t i = 0; i < n; ++i) {
      const double x = series.x[i], y = series.y[i];
      if (!Plottable(x) || !Plottable(y)) {
        pen_down = false;
        continue;
      }
      const std::string px = Fixed(x_of(x)), py = Fixed(scale.Y(y));
      path += (pen_down ? "L" : "M") + px + " " + py;
      pen_down = true;
      points += "<circle class=\"point\" cx=\"" + px + "\" cy=\"" + py + "\" r=\"3\" fill=\"" +
                HtmlEscape(series.color) + "\" data-x=\"" + Precise(x) + "\" data-y=\"" +
                Precise(y) + "\"><title>" +
                HtmlEscape(series.name + " at " + FormatNumber(x, 1) + ": " + FormatNumber(y, 2) +
                           (chart.value_unit.empty() ? "" : " " + chart.value_unit)) +
                "</title></circle>";
    }
    out += "<g class=\"xy-series\" data-series=\"" + HtmlEscape(series.name) +
           "\"><path class=\"series\" d=\"" + path + "\" stroke=\"" + HtmlEscape(series.color) +
           "\"" + (series.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>" + points + "</g>";
  }
  out += "</g>";
  if (!any_point) out += NoDataText("no points recorded");

  double legend_x = kLeft;
  out += PlotFrame() + LegendOf(chart.series, &legend_x);
  if (identity) out += LegendEntry(&legend_x, chart.identity_label, "#7f7f7f", true);
  out += "</g></svg>";
  return out;
}

}  // namespace ingestlab::reports
