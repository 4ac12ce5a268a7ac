import ArgumentParser
import Foundation
import Invariance
import Kernels
import NN

/// `augerino bench fidelity`: datasets with transformations planted at known magnitudes, trained
/// with the product's defaults; prints planted against recovered for every generator and seed.
struct BenchFidelity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fidelity",
        abstract: "Plant transformations of known magnitude in MNIST, Fashion-MNIST and sprites; check the learned widths recover them.",
        discussion: """
            Each case is a dataset generated from the real MNIST or Fashion-MNIST files (or the \
            example's two sprites) whose images were warped by the method's own family: ε uniform in \
            [−θ/2, θ/2] per planted generator, or adjusted in brightness, contrast, gamma or saturation \
            by e^ε or in hue by a turn of ε (those cases, and the source cases they are judged against, \
            name the families in their manifests beside the affine generators), or mirrored left to \
            right with probability p (the mirror cases name the three mirrors; p is judged as a width). A run trains with the defaults a user gets (change them \
            with the training settings below, as for `augerino train`, except --seed: run k of a case \
            has seed k) and is judged: a planted width must come back within the tolerance \
            (15%; 10% for the two sprites), an unplanted one must read as "none" in the report's terms \
            (below 5°, 1 px, ×1.05, slope 0.05, ±5%, hue ±5°, p 0.05), and a negative control must stay below the magnitude \
            that turns one class into another. A case made from MNIST or Fashion-MNIST is judged against \
            its source case (mnist-none, fashion-none; a pose case against the same digits moved \
            alike to its two poses, mnist-moved-…, mnist-turned-…: run first, with it, when not \
            asked for): \
            handwriting and clothes vary of their own, and a planted spread adds to theirs (θ_read² = \
            θ_source² + θ_planted²; a planted turn, stretch or shear mixes the source's own poses \
            as it moves them); an unplanted generator passes within the tolerance of the \
            source's own width too. --read-only reads the spread (--objective spread) without \
            training a network: the widths such a run would hold, in a fraction of the time. \
            Progress goes to standard error, one line per run; the table (Markdown) to standard \
            output. See docs/performance.md, "Fidelity".
            """)

    @Option(help: "Folder holding mnist/ and fashion-mnist/ with their IDX files.")
    var data: String = "../shared/data"

    @Option(help: "Cases to run, comma-separated names or prefixes (default: all; --list shows them).")
    var cases: String?

    @Flag(help: "List the cases with what each plants, and stop.")
    var list = false

    @Option(help: "Seeds per case (0, 1, …): each draws its own images, transformations and run.")
    var seeds: Int = 2

    @Option(help: "Training images per case.")
    var train: Int = 2_000

    @Option(help: "Test images per case.")
    var test: Int = 1_000

    @Flag(help: "Read the spread only: the widths --objective spread holds, without training the network (no test metric).")
    var readOnly = false

    @Flag(help: "Read each class whole, without finding its forms first (the spread objective before session 27): to compare.")
    var wholeClasses = false

    @OptionGroup(title: "Training settings") var training: TrainingFlags

    @OptionGroup var threading: ThreadOption

    func validate() throws {
        guard (1...10).contains(seeds) else { throw ValidationError("--seeds \(seeds): must be from 1 to 10") }
        guard (100...60_000).contains(train) else { throw ValidationError("--train \(train): must be from 100 to 60000") }
        guard (100...10_000).contains(test) else { throw ValidationError("--test \(test): must be from 100 to 10000") }
        if training.seed != nil { throw ValidationError("--seed: each run's seed is its number, 0 to --seeds − 1; give --seeds instead") }
        if readOnly, let objective = training.objective, objective != "spread" {
            throw ValidationError("--read-only reads the spread (--objective spread); leave out --objective \(objective)")
        }
        _ = try selectedCases()
    }

    /// The cases asked for, each after the source case it is judged against (added when not asked for).
    func selectedCases() throws -> [FidelityCase] {
        guard let cases else { return FidelityCase.ordered(FidelityCase.all) }
        let wanted = cases.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let chosen = FidelityCase.all.filter { c in wanted.contains { c.name == $0 || c.name.hasPrefix($0) } }
        for name in wanted where !FidelityCase.all.contains(where: { $0.name == name || $0.name.hasPrefix(name) }) {
            throw ValidationError("--cases: no case is named \(name) or starts with it; --list shows the names")
        }
        let sources = Set(chosen.compactMap(\.baseline))
        return FidelityCase.ordered(FidelityCase.all.filter { c in sources.contains(c.name) || chosen.contains { $0.name == c.name } })
    }

    func run() throws {
        let chosen = try selectedCases()
        if list {
            for c in chosen { print("\(c.name.padding(toLength: 52, withPad: " ", startingAt: 0)) \(c.summary)") }
            return
        }
        let parallelism = try threading.parallelism()
        let sources = FidelitySources(data: URL(fileURLWithPath: data), train: train, test: test)
        var flags = try training.values()
        if flags[.probeImages] == nil { try flags.set(.probeImages, .integer(0)) }  // the bench reads widths, not probes
        if readOnly { try flags.set(.objective, .choice("spread")) }
        print(FidelityRow.header(seeds: seeds))
        var (checks, passed, failedCases) = (0, 0, [String]())
        var outcomesByCase: [String: [FidelityOutcome]] = [:]
        let start = Date()
        for c in chosen {
            var outcomes: [FidelityOutcome] = []
            do {
                for seed in 0..<UInt64(seeds) {
                    let outcome = try TensorContext.with(parallelism) { try c.run(seed: seed, sources: sources, flags: flags, readOnly: readOnly, wholeClasses: wholeClasses) }
                    outcomes.append(outcome)
                    let widths = FidelityAxis.allCases.filter { outcome.widths[$0] != nil }.map { "\($0.name) \(String(format: "%.3f", outcome.widths[$0] ?? 0))" }
                    FileHandle.standardError.write(Data(("\(c.name) seed \(seed): \(outcome.durationText(readOnly: readOnly)), " +
                        "test \(outcome.metricText); θ: \(widths.joined(separator: ", "))" +
                        (outcome.reading.map { "; spread read: \($0)" } ?? "") + "\n").utf8))
                }
            } catch {
                // One case that cannot run (its data missing, say) is reported; the others still run.
                FileHandle.standardError.write(Data("\(c.name): \(error)\n".utf8))
                failedCases.append(c.name)
                continue
            }
            outcomesByCase[c.name] = outcomes
            let rows = c.judge(outcomes, baselineOutcomes: c.baseline.flatMap { outcomesByCase[$0] })
            for row in rows { print(row.markdown) }
            fflush(nil)
            let judged = rows.filter(\.isJudged)
            (checks, passed) = (checks + judged.count, passed + judged.filter(\.passes).count)
        }
        print("\n\(passed) of \(checks) checks pass (\(chosen.count - failedCases.count) cases × \(seeds) seeds, " +
              "\(String(format: "%.0f", Date().timeIntervalSince(start))) s, \(parallelism))." +
              (failedCases.isEmpty ? "" : " Could not run: \(failedCases.joined(separator: ", ")) (standard error says why)."))
        if !failedCases.isEmpty { throw ExitCode.failure }
    }
}

/// Where a case's base images come from: the real files, read once.
final class FidelitySources {
    let data: URL, train: Int, test: Int
    private var cache: [String: (images: [Float], labels: [Float])] = [:]

    init(data: URL, train: Int, test: Int) { (self.data, self.train, self.test) = (data, train, test) }

    /// The first images (0…255) and labels of MNIST or Fashion-MNIST's `split` ("train" or "t10k").
    func idx(_ dataset: String, _ split: String) throws -> (images: [Float], labels: [Float]) {
        let key = "\(dataset)/\(split)"
        if let cached = cache[key] { return cached }
        let folder = data.appendingPathComponent(dataset)
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw CommandFailure("\(folder.path): no such folder; --data must name the folder that holds mnist/ and fashion-mnist/ with their IDX files (../shared/data next to this project)")
        }
        let loaded = try readMNISTStyle(folder: folder, prefix: split, count: split == "train" ? 60_000 : 10_000)
        cache[key] = loaded
        return loaded
    }
}
