// One self-contained HTML page: inline CSS, the page's data as a JSON island, inline JS.
// Nothing is fetched: a Content-Security-Policy of default-src 'none' makes the browser
// refuse any request the page might try, so a page that works here works offline.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace heed::viz {

// The two files every page generator returns: the page and the data behind it.
struct Page {
  std::string html;
  std::string json;
};

// JSON text safe inside <script type="application/json">: every '<' becomes \u003c, so
// no "</script>" in a token can end the island early.
std::string json_for_html(const nlohmann::json& data);

// page.css + page.js (shared helpers) + `page_js`, with `data` readable from the page as
// heedData(). `title` is HTML-escaped.
std::string html_page(std::string_view title, const nlohmann::json& data,
                      std::string_view page_js);

std::string html_escape(std::string_view text);

// Rounds to `decimals` places so the JSON carries ~7 characters per number instead of
// float's 17-digit double expansion (0.1f -> 0.10000000149011612).
double round_to(double x, int decimals);

// "out/attention.html" -> "out/attention.json": where the data behind a page is written.
std::string json_path_for(const std::string& html_path);

// Writes page.html to `html_path` and page.json beside it (both atomically).
void write_page(const Page& page, const std::string& html_path);

}  // namespace heed::viz
