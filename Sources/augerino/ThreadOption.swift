import ArgumentParser
import Kernels

/// `--threads T`, shared by every command that computes.
struct ThreadOption: ParsableArguments {
    @Option(help: "Threads (default: AUGERINO_THREADS, else all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1...1024).contains(threads) {
            throw ValidationError("--threads \(threads): a thread count must be from 1 to 1024")
        }
    }

    /// The thread count to use.
    /// - Throws: when AUGERINO_THREADS is set to something that is not a thread count.
    func parallelism() throws -> Parallelism {
        try threads.map(Parallelism.init(threads:)) ?? Parallelism.fromEnvironment()
    }
}
