#include "heed/viz/html.h"

#include <cmath>
#include <filesystem>

#include "heed/base/error.h"
#include "heed/base/fs.h"
#include "heed/viz/assets.h"

namespace heed::viz {

std::string json_for_html(const nlohmann::json& data) {
  // Invalid UTF-8 in a token (a byte-level BPE piece) is replaced, not thrown on.
  const std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 64);
  for (char c : text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_page(std::string_view title, const nlohmann::json& data,
                      std::string_view page_js) {
  // Inline scripts cannot contain "</script"; the assets are ours, so this is a build bug.
  for (std::string_view js : {assets::kPageJs, page_js})
    HEED_CHECK(js.find("</script") == std::string_view::npos,
               "viz: an embedded script contains '</script'");
  std::string html;
  html.reserve(assets::kPageCss.size() + assets::kPageJs.size() + page_js.size() + 4096);
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n";
  html += "<title>" + html_escape(title) + "</title>\n<style>\n";
  html += assets::kPageCss;
  html += "</style>\n</head>\n<body>\n<div id=\"app\"></div>\n";
  html += "<script type=\"application/json\" id=\"heed-data\">";
  html += json_for_html(data);
  html += "</script>\n<script>\n";
  html += assets::kPageJs;
  html += "</script>\n<script>\n";
  html += page_js;
  html += "</script>\n</body>\n</html>\n";
  return html;
}

double round_to(double x, int decimals) {
  if (!std::isfinite(x)) return x;
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

std::string json_path_for(const std::string& html_path) {
  std::filesystem::path p(html_path);
  if (p.extension() == ".html" || p.extension() == ".htm") return p.replace_extension(".json").string();
  return html_path + ".json";
}

void write_page(const Page& page, const std::string& html_path) {
  const std::filesystem::path parent = std::filesystem::path(html_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  write_file_atomic(html_path, page.html);
  write_file_atomic(json_path_for(html_path), page.json);
}

}  // namespace heed::viz
