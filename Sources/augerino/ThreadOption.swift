import ArgumentParser
import Kernels

/// `--threads T`, shared by every command that computes.
struct ThreadOption: ParsableArguments {
    @Option(help: "Threads, 1 to 1024 (0 or not given: AUGERINO_THREADS, else all cores; the same as daemon.conf's threads).")
    var threads: Int?

    func validate() throws {
        if let threads, !(0...1024).contains(threads) {
            throw ValidationError("--threads \(threads): a thread count must be from 0 (all cores) to 1024")
        }
    }

    /// The thread count to use. Also checks the kernels' other setting, AUGERINO_GEMM_KERNEL,
    /// so a bad value is an error before any work starts rather than silently ignored.
    /// - Throws: when AUGERINO_THREADS or AUGERINO_GEMM_KERNEL is set to something unusable.
    func parallelism() throws -> Parallelism {
        _ = try GemmKernel.fromEnvironment()
        guard let threads, threads > 0 else { return try Parallelism.fromEnvironment() }
        return Parallelism(threads: threads)
    }
}
