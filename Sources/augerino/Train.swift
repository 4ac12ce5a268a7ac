import ArgumentParser
import Bundle
import Foundation
import Invariance
import Kernels
import NN
import Training

/// `augerino train`: learns a network and the invariances of a dataset, writes the model and
/// the report.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network and its learned augmentation on a dataset; write model.safetensors and the report.",
        discussion: """
            DATASET is a bundle (.tar.gz) or a folder laid out as an unpacked bundle: manifest.json \
            and the IDX files it names (see docs/bundle-format.md; `augerino example` writes both). Training \
            settings given here override the manifest's; the manifest's override the defaults \
            (docs/configuration.md lists every setting). Without a \
            test split, 10% of the training images (chosen by the seed) are held out. The test \
            metric printed after each epoch is one plain pass over at most 2,000 test images; the report's final \
            metrics use all of them.
            """)

    @Argument(help: "The dataset: a .tar.gz bundle, or a folder with manifest.json and its data files.")
    var dataset: String

    @Option(help: "Output folder (created if missing) for model.safetensors, report.json, report.html and report.md; those four files are replaced.")
    var out: String

    @OptionGroup(title: "Training settings") var training: TrainingFlags

    @OptionGroup var threading: ThreadOption

    func run() throws {
        let parallelism = try threading.parallelism()
        let folder: DatasetFolder, cleanup: () -> Void
        do { (folder, cleanup) = try openDataset(dataset) } catch let error as BundleError { throw CommandFailure("\(error)") }
        defer { cleanup() }
        let run = try TrainingRun(dataset: folder, flags: try training.values())
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

    /// When the spread objective began reading the widths (batch 0 of the first epoch), once it
    /// has, and how long that took (kept out of the ETA's pace).
    private var readingSince: Date?, readingSeconds = 0.0

    init(total: Int, imageHeight: Int, imageWidth: Int) { (self.total, self.imageHeight, self.imageWidth) = (total, imageHeight, imageWidth) }

    func batch(epoch: Int, done: Int, of batches: Int) {
        if done == 0 {
            // The spread objective reads the widths before the first batch: say so once (it
            // takes a minute or two), and show how long it has run on a terminal.
            if readingSince == nil {
                readingSince = Date()
                FileHandle.standardError.write(Data("reading how far each class's images vary along each transformation (the spread objective)\n".utf8))
            }
            readingSeconds = Date().timeIntervalSince(readingSince!)
            if isTerminal { FileHandle.standardError.write(Data("\r  reading the spread: \(duration(readingSeconds)) ".utf8)) }
            return
        }
        guard isTerminal else { return }
        let fraction = (Double(epoch - 1) + Double(done) / Double(batches)) / Double(total)
        let elapsed = Date().timeIntervalSince(start) - readingSeconds
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
