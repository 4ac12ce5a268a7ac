import ArgumentParser

/// `augerino bench ...`: speed measurements. Build with `-c release`; debug builds of the
/// kernels are 10-100x slower and say nothing.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure kernel and training speed (build with -c release).",
        discussion: """
            Every benchmark first checks its result against a plain reference computation and \
            stops with an error if they disagree; then it times. Compare with the reference \
            scripts in ../shared/bench measured in the same run (docs/performance.md).
            """,
        subcommands: [BenchGemm.self, BenchConv.self, BenchTrain.self, BenchMNIST.self, BenchFidelity.self, BenchQueue.self]
    )
}

/// The whole numbers of a comma-separated option ("256,512,1024"), each within `range`; nil when
/// any part is not one.
func commaSeparatedWholeNumbers(_ text: String, in range: ClosedRange<Int>) -> [Int]? {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0.map(range.contains) == true }) else { return nil }
    return values.map { $0! }
}
