import ArgumentParser
import Bundle
import Foundation
import Invariance
import Kernels
import NN
import Training

extension RewardUnits: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension WidthObjective: ExpressibleByArgument {}

/// `augerino train`: learns a network and the invariances of a dataset, writes the model and
/// the report.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network and its learned augmentation on a dataset; write model.safetensors and the report.",
        discussion: """
            DATASET is a bundle (.tar.gz) or a folder laid out as an unpacked bundle: manifest.json \
            and the IDX files it names (see docs/bundle-format.md; `augerino example` writes both). Options given \
            here override the manifest's; the manifest's override the built-in defaults. Without a \
            test split, 10% of the training images (chosen by the seed) are held out. The test \
            metric printed after each epoch uses at most 2,000 test images; the report's final \
            metrics use all of them.
            """)

    @Argument(help: "The dataset: a .tar.gz bundle, or a folder with manifest.json and its data files.")
    var dataset: String

    @Option(help: "Output folder (created if missing) for model.safetensors, report.json, report.html and report.md; those four files are replaced.")
    var out: String

    @Option(help: "Epochs (default: manifest, else enough for about 5,600 steps, from 10 to 200).")
    var epochs: Int?

    @Option(help: "λ, the weight of the width reward −λ‖θ‖ (default: manifest, else 0.1 for classification, 0.01 for regression).")
    var reg: Float?

    @Option(help: "Seed for initialisation, shuffling, dropout and augmentation (default: manifest, else 0).")
    var seed: UInt64?

    @Option(help: "Augmented copies averaged at test time (default: manifest, else 4).")
    var copies: Int?

    @Option(help: "Learning rate of Adam for the network and the widths (default: manifest, else 0.01).")
    var learningRate: Float?

    @Option(help: "Batch size (default: manifest, else 128).")
    var batch: Int?

    @Option(help: "Network width k or c (default: manifest, else 32).")
    var width: Int?

    @Option(help: "Units of the width reward: displacement (the default: translations weighed by how little they move points) or parameter (the reference).")
    var rewardUnits: RewardUnits?

    @Option(help: "Learning rate over training: cosine (the default: annealed to 0 over the epochs) or constant (the reference).")
    var schedule: ScheduleKind?

    @Option(help: "Switch the width reward off while any width θ exceeds this (the reference's bounded variant; 0: never).")
    var rewardCap: Float?

    @Option(help: "Adam's learning rate for the widths alone (default: the network's; 0 freezes them at their initial values, forcing those invariances).")
    var widthLearningRate: Float?

    @Option(help: "Held-out images used by the invariance probes (0: no probes).")
    var probeImages: Int = 250

    @OptionGroup var threading: ThreadOption

    func validate() throws {
        if let epochs, !(1...10_000).contains(epochs) { throw ValidationError("--epochs \(epochs): must be from 1 to 10000") }
        if let reg, !(reg >= 0 && reg < 100) { throw ValidationError("--reg \(reg): must be from 0 to 100") }
        if let copies, !(1...1024).contains(copies) { throw ValidationError("--copies \(copies): must be from 1 to 1024") }
        if let learningRate, !(learningRate > 0 && learningRate < 10) { throw ValidationError("--learning-rate \(learningRate): must be between 0 and 10") }
        if let batch, !(2...65_536).contains(batch) { throw ValidationError("--batch \(batch): must be from 2 to 65536") }
        if let width, !(1...1024).contains(width) { throw ValidationError("--width \(width): must be from 1 to 1024") }
        if let widthLearningRate, !(widthLearningRate >= 0 && widthLearningRate < 10) {
            throw ValidationError("--width-learning-rate \(widthLearningRate): must be from 0 to 10")
        }
        if let rewardCap, !(rewardCap >= 0 && rewardCap <= 1000) { throw ValidationError("--reward-cap \(rewardCap): must be from 0 to 1000") }
        guard (0...100_000).contains(probeImages) else { throw ValidationError("--probe-images \(probeImages): must be from 0 to 100000") }
    }

    func run() throws {
        let parallelism = try threading.parallelism()
        let folder: DatasetFolder, cleanup: () -> Void
        do { (folder, cleanup) = try openDataset(dataset) } catch let error as BundleError { throw CommandFailure("\(error)") }
        defer { cleanup() }
        let overrides = TrainingOptions(epochs: epochs, batchSize: batch, learningRate: learningRate, regularization: reg,
                                        testCopies: copies, seed: seed, width: width, rewardUnits: rewardUnits, probeImages: probeImages,
                                        schedule: schedule, rewardCap: rewardCap, widthLearningRate: widthLearningRate)
        let run = TrainingRun(dataset: folder, overrides: overrides)
        var isFolder: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: dataset, isDirectory: &isFolder)
        let provenance = isFolder.boolValue
            ? ["data": dataset, "data_sha256": try TrainingRun.folderDigest(URL(fileURLWithPath: dataset))]
            : ["bundle": URL(fileURLWithPath: dataset).lastPathComponent, "bundle_sha256": try SHA256.hash(file: dataset)]
        let progress = ProgressDisplay(total: run.settings.epochs, imageHeight: run.train.height, imageWidth: run.train.width)
        FileHandle.standardError.write(Data("\(run.summary), \(parallelism)\n".utf8))
        let result = try TensorContext.with(parallelism) {
            while !run.isFinished {
                let epoch = run.epochsDone + 1
                let record = try run.trainNextEpoch { done, total in progress.batch(epoch: epoch, done: done, of: total) }
                progress.epochDone(record, task: run.task)
                if let settled = run.settled, settled.epoch == record.epoch {
                    progress.total = run.plannedEpochs
                    FileHandle.standardError.write(Data("the answer \(settled.description(budget: run.settings.epochs)); ending after epoch \(run.plannedEpochs)\n".utf8))
                }
            }
            return run.finish(threads: parallelism.threads, provenance: provenance)
        }
        let outFolder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: true)
        try result.write(into: outFolder)
        for invariance in result.report.invariances where invariance.learned {
            print(String(format: "  %-11@ θ = %.3f   interval [%.3g, %.3g] %@", invariance.generator as NSString, invariance.theta,
                         invariance.interval[0], invariance.interval[1], invariance.unit as NSString))
        }
        let metrics = result.report.metrics
        for key in metrics.keys.sorted() { print(String(format: "  %@ = %.4f", key as NSString, metrics[key]!)) }
        print("wrote \(out)/model.safetensors, report.json, report.html and report.md")
    }
}

/// Progress on standard error: a bar with ETA on a terminal, one line per epoch otherwise.
final class ProgressDisplay {
    var total: Int
    let imageHeight: Int, imageWidth: Int
    let isTerminal = isatty(STDERR_FILENO) == 1
    let start = Date()

    init(total: Int, imageHeight: Int, imageWidth: Int) { (self.total, self.imageHeight, self.imageWidth) = (total, imageHeight, imageWidth) }

    func batch(epoch: Int, done: Int, of batches: Int) {
        guard isTerminal else { return }
        let fraction = (Double(epoch - 1) + Double(done) / Double(batches)) / Double(total)
        let elapsed = Date().timeIntervalSince(start)
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let filled = Int(fraction * 30)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        FileHandle.standardError.write(Data(String(format: "\r  epoch %d/%d [%@] %3.0f%%  ETA %@ ", epoch, total, bar, fraction * 100, duration(eta)).utf8))
    }

    func epochDone(_ record: EpochRecord, task: LearningTask) {
        let metric = task == .regression ? String(format: "train MSE %.4f", record.trainMetric) : String(format: "train accuracy %.2f%%", record.trainMetric * 100)
        let test = record.testMetric.map { task == .regression ? String(format: ", test MSE %.4f", $0) : String(format: ", test accuracy %.2f%%", $0 * 100) } ?? ""
        let widths = naturalWidthsText(record.theta, height: imageHeight, width: imageWidth)
        let line = String(format: "epoch %d/%d: loss %.4f, %@%@; widths: %@ (%@)", record.epoch, total, record.trainLoss, metric, test, widths, duration(record.seconds))
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + "\n").utf8))
    }

    private func duration(_ seconds: Double) -> String {
        seconds >= 60 ? String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) : String(format: "%.0fs", seconds)
    }
}
