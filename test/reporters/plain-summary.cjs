// Prints the run's totals as one plain line ("kto-tests: N passed, N failed, N skipped"),
// the form log readers outside Jest understand.
class PlainSummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(`\nkto-tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped\n`);
  }
}
module.exports = PlainSummaryReporter;
