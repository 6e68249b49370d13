// Runs the fuzz target over saved inputs without libFuzzer, so the corpus
// (and any crash file) replays in the ordinary gcc build: every argument is
// a file or a directory of files, each run once, reported as a TAP line. A
// failing input aborts inside LLVMFuzzerTestOneInput, which fails the test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv) {
  namespace fs = std::filesystem;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; i++) {
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) {
      std::vector<std::string> here;
      for (const fs::directory_entry &e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) here.push_back(e.path().string());
      // Sorted, so the TAP numbering of a corpus is the same on every run.
      std::sort(here.begin(), here.end());
      inputs.insert(inputs.end(), here.begin(), here.end());
    } else {
      inputs.push_back(argv[i]);
    }
  }
  if (inputs.empty()) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  printf("1..%zu\n", inputs.size());
  int status = 0;
  for (size_t n = 0; n < inputs.size(); n++) {
    std::ifstream in(inputs[n], std::ios::binary);
    if (!in) {
      printf("not ok %zu - %s # cannot read\n", n + 1, inputs[n].c_str());
      status = 1;
      continue;
    }
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fflush(stdout);
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    printf("ok %zu - %s\n", n + 1, inputs[n].c_str());
  }
  return status;
}
