// The dashboard's files, compiled into the binary from service/dashboard/
// (service/dashboard/embed.cmake): the page, and uPlot (vendored, MIT).
#pragma once

#include <string_view>

namespace switchyard::service::assets {

extern const std::string_view kIndexHtml;
extern const std::string_view kDashboardJs;
extern const std::string_view kUPlotJs;
extern const std::string_view kUPlotCss;
extern const std::string_view kUPlotLicense;

}  // namespace switchyard::service::assets
