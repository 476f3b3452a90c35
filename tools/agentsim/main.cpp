// agentsim: N simulated gateways in one process (see README.md). Exit status 0 after
// a completed run, 1 when the run could not start, 2 on a usage error.
#include <csignal>
#include <cstdio>
#include <fstream>

#include "tools/agentsim/engine.hpp"
#include "tools/agentsim/options.hpp"

namespace {

extern "C" void on_signal(int) {
    agenthost::agentsim::request_stop();
}

}  // namespace

int main(int argc, char** argv) {
    using namespace agenthost::agentsim;
    ParseOutcome parsed = parse_options(argc, argv);
    if (parsed.help) {
        std::fputs(usage_text(), stdout);
        return 0;
    }
    if (!parsed.options) {
        std::fprintf(stderr, "agentsim: %s\n\n%s", parsed.error.c_str(), usage_text());
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const Options& o = *parsed.options;
    Report report;
    if (auto st = run(o, report); !st) {
        std::fprintf(stderr, "agentsim: %s\n", st.message().c_str());
        return 1;
    }
    std::fputs(report_table(report).c_str(), stdout);
    std::fflush(stdout);
    if (!o.json_file.empty()) {
        std::ofstream f(o.json_file, std::ios::trunc);
        f << report_json(report) << "\n";
        if (!f) {
            std::fprintf(stderr, "agentsim: cannot write %s\n", o.json_file.c_str());
            return 1;
        }
    }
    return 0;
}
