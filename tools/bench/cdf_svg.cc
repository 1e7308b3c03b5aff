#include "tools/bench/cdf_svg.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench/driver.h"

namespace bench {
namespace {

constexpr int kWidth = 760, kPanelHeight = 300, kLeft = 60, kRight = 230, kTop = 34,
              kBottom = 40;
const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                               "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string FormatDecade(int d) {
  const double v = std::pow(10.0, d);
  return v >= 1 ? absl::StrFormat("%.0f", v) : absl::StrFormat("%g", v);
}

std::string FormatUs(double us) {
  return us >= 100 ? absl::StrFormat("%.0f", us) : absl::StrFormat("%.1f", us);
}

struct Curve {
  std::string name;
  std::vector<double> us;  // at kCdfQuantiles
};

struct Panel {
  std::string title;
  std::vector<Curve> curves;
};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      default: out += c;
    }
  }
  return out;
}

// The repetition of C to draw: the one whose p50 is nearest the median's.
const Measurement* Representative(const CaseResult& c) {
  auto median = c.median().find("p50_us");
  const Measurement* best = nullptr;
  double best_d = 0;
  for (const Measurement& m : c.reps()) {
    if (!m.error().empty() || m.cdf_us_size() != kCdfPoints) continue;
    auto p = m.metrics().find("p50_us");
    const double d = (median == c.median().end() || p == m.metrics().end())
                         ? 0
                         : std::fabs(p->second - median->second);
    if (best == nullptr || d < best_d) {
      best = &m;
      best_d = d;
    }
  }
  return best;
}

void DrawPanel(const Panel& p, int y0, std::string* out) {
  double lo = 1e300, hi = 0;
  for (const Curve& c : p.curves) {
    for (double v : c.us) {
      if (v > 0) lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (hi <= 0) return;
  // Whole decades around the data.
  const double dlo = std::floor(std::log10(lo)), dhi = std::ceil(std::log10(hi) + 1e-9);
  const double decades = std::max(1.0, dhi - dlo);
  const int pw = kWidth - kLeft - kRight, ph = kPanelHeight - kTop - kBottom;
  // (Data at or below 0 is drawn at the left edge; gridlines are exact.)
  auto X = [&](double us) {
    const double d = us > 0 ? std::log10(us) : dlo;
    return kLeft + (std::max(d, dlo) - dlo) / decades * pw;
  };
  auto Y = [&](double q) { return y0 + kTop + (1 - q) * ph; };
  absl::StrAppendFormat(out, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
                        kLeft, y0 + 20, Escape(p.title));
  absl::StrAppendFormat(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                        "stroke=\"#888\"/>\n",
                        kLeft, y0 + kTop, pw, ph);
  for (int d = static_cast<int>(dlo); d <= static_cast<int>(dhi); d++) {
    const double x = X(std::pow(10.0, d));
    absl::StrAppendFormat(out,
                          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
                          "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s µs</text>\n",
                          x, y0 + kTop, x, y0 + kTop + ph, x, y0 + kTop + ph + 15,
                          FormatDecade(d));
  }
  for (double q : {0.0, 0.5, 0.9, 0.99}) {
    absl::StrAppendFormat(out,
                          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
                          "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
                          kLeft, Y(q), kLeft + pw, Y(q), kLeft - 4, Y(q) + 4, q);
  }
  absl::StrAppendFormat(out,
                        "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">round "
                        "trip (log scale); y: fraction of round trips at most that long</text>\n",
                        kLeft + pw / 2, y0 + kPanelHeight - 6);
  int i = 0;
  for (const Curve& c : p.curves) {
    const char* color = kColors[i % (sizeof kColors / sizeof kColors[0])];
    std::string pts;
    for (int k = 0; k < kCdfPoints && k < static_cast<int>(c.us.size()); k++) {
      absl::StrAppendFormat(&pts, "%.1f,%.1f ", X(c.us[k]), Y(kCdfQuantiles[k]));
    }
    absl::StrAppendFormat(out,
                          "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n",
                          color, pts);
    const int ly = y0 + kTop + 14 + 18 * i;
    absl::StrAppendFormat(out,
                          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                          "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">%s "
                          "(p50 %s µs)</text>\n",
                          kLeft + pw + 10, ly, kLeft + pw + 30, ly, color, kLeft + pw + 35, ly + 4,
                          Escape(c.name), FormatUs(c.us[8]));
    i++;
  }
}

}  // namespace

std::string RenderCdfSvg(const Report& report) {
  std::vector<Panel> panels;
  for (const ScenarioResult& s : report.scenarios()) {
    std::map<std::string, size_t> by_group;  // group -> panel index
    for (const CaseResult& c : s.cases()) {
      const Measurement* m = Representative(c);
      if (m == nullptr) continue;
      auto it = by_group.find(c.group());
      if (it == by_group.end()) {
        it = by_group.emplace(c.group(), panels.size()).first;
        panels.push_back({absl::StrCat(s.title(), ": ", c.group()), {}});
      }
      panels[it->second].curves.push_back(
          {c.variant(), std::vector<double>(m->cdf_us().begin(), m->cdf_us().end())});
    }
  }
  if (panels.empty()) return "";
  const int height = kPanelHeight * static_cast<int>(panels.size());
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      kWidth, height);
  for (size_t i = 0; i < panels.size(); i++) {
    DrawPanel(panels[i], static_cast<int>(i) * kPanelHeight, &out);
  }
  out += "</svg>\n";
  return out;
}

}  // namespace bench
