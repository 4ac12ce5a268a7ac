import ArgumentParser
import Bundle
import Foundation
import Invariance
import Kernels
import NN

extension RewardUnits: ExpressibleByArgument {}

/// `augerino train`: learns a network and the invariances of a dataset, writes the model and
/// the report.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network and its learned augmentation on a dataset; write model.safetensors and report.json.",
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

    @Option(help: "Output folder for model.safetensors and report.json (created if missing; those two files are replaced).")
    var out: String

    @Option(help: "Epochs (default: manifest, else 10).")
    var epochs: Int?

    @Option(help: "λ, the weight of the width reward −λ‖θ‖ (default: manifest, else 0.01).")
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

    @Option(help: "Units of the width reward: parameter (the reference) or displacement (translations weighed by how little they move points).")
    var rewardUnits: RewardUnits = .parameter

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
        guard (0...100_000).contains(probeImages) else { throw ValidationError("--probe-images \(probeImages): must be from 0 to 100000") }
    }

    func run() throws {
        let parallelism = try threading.parallelism()
        let (folder, cleanup) = try openDataset(dataset)
        defer { cleanup() }
        let manifest = folder.manifest
        var settings = TrainingSettings()
        settings.epochs = epochs ?? manifest.epochs ?? 10
        settings.batchSize = batch ?? manifest.batchSize ?? 128
        settings.learningRate = learningRate ?? manifest.learningRate ?? 0.01
        settings.regularization = reg ?? manifest.regularization ?? 0.01
        settings.testCopies = copies ?? manifest.testCopies ?? 4
        settings.seed = seed ?? manifest.seed ?? 0
        settings.rewardUnits = rewardUnits

        // Standardise inputs with the manifest's statistics, else the training split's.
        let (mean, std): (Double, Double)
        if let givenMean = manifest.inputMean, let givenStd = manifest.inputStd {
            (mean, std) = (Double(givenMean), Double(givenStd))
        } else {
            let pixels = Double(folder.train.images.count)
            mean = folder.train.images.reduce(0.0) { $0 + Double($1) } / pixels
            std = max(1e-6, (folder.train.images.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / pixels).squareRoot())
        }
        func standardised(_ split: DatasetFolder.Split) -> ImageDataset {
            ImageDataset(images: split.images.map { Float((Double($0) - mean) / std) }, channels: split.channels,
                         height: split.height, width: split.width, targets: split.targets)
        }
        var train = standardised(folder.train)
        let test: ImageDataset
        if let split = folder.test {
            test = standardised(split)
        } else {
            (train, test) = holdOut(train, fraction: 0.1, seed: settings.seed)
        }

        let task: LearningTask = manifest.task == .classification ? .classification(classes: folder.classes!.count) : .regression
        let architecture = NetworkSpec.Architecture(rawValue: manifest.architecture ?? (train.channels == 1 ? "smallnet" : "simpleconv"))!
        let spec = NetworkSpec(architecture: architecture, width: width ?? manifest.width ?? 32,
                               inputChannels: architecture == .mlp ? train.imageSize : train.channels,
                               outputs: folder.classes?.count ?? 1, dropout: architecture == .smallnet ? 0.3 : 0)
        let learned = Set((manifest.generators ?? AffineGenerator.allCases.map(\.rawValue)).compactMap(AffineGenerator.init(rawValue:)))
        let initial = Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.map { generator in
            (generator, learned.contains(generator) ? manifest.initialTheta[generator.rawValue] ?? defaultInitialWidth : 0)
        })
        let augmentation = AffineAugmentation(learned: learned, initialWidths: initial, defaultWidth: defaultInitialWidth)
        let trainer = InvarianceTrainer(network: spec, augmentation: augmentation, task: task, settings: settings)

        let progress = ProgressDisplay(total: settings.epochs)
        FileHandle.standardError.write(Data("\(manifest.name): \(train.count) training and \(test.count) test images of \(train.channels)x\(train.height)x\(train.width), \(architecture.rawValue) width \(spec.width), \(settings.epochs) epochs, \(parallelism)\n".utf8))
        TensorContext.with(parallelism) {
            for epoch in 1...settings.epochs {
                // The per-epoch test metric uses at most 2,000 test images; the final metrics use all.
                let record = trainer.trainEpoch(train, test: test.prefix(2000)) { done, total in progress.batch(epoch: epoch, done: done, of: total) }
                progress.epochDone(record, task: task)
            }
        }

        let metricName = task == .regression ? "mse" : "accuracy"
        var metrics: [String: Double] = [:]
        TensorContext.with(parallelism) {
            metrics["test_\(metricName)"] = trainer.evaluate(test, copies: settings.testCopies)
            metrics["test_\(metricName)_single"] = trainer.evaluate(test, copies: 0)
        }
        let probes = probeImages == 0 ? [] : TensorContext.with(parallelism) {
            probeInvariances(trainer.predictor, data: test, copies: settings.testCopies, limit: probeImages, seed: settings.seed)
        }
        metrics["train_loss"] = trainer.history.last?.trainLoss
        metrics["train_\(metricName)"] = trainer.history.last?.trainMetric
        let runSettings: [String: String] = [
            "seed": String(settings.seed), "regularization": String(settings.regularization), "learning_rate": String(settings.learningRate),
            "reward_units": settings.rewardUnits.rawValue,
            "epochs": String(settings.epochs), "batch_size": String(settings.batchSize), "test_copies": String(settings.testCopies),
            "weight_decay": String(settings.weightDecay), "model": "\(architecture.rawValue)(\(spec.width))",
            "input_mean": String(mean), "input_std": String(std), "threads": String(parallelism.threads),
        ]
        let report = InvarianceReport(name: manifest.name, task: task, widths: augmentation.widthValues, initial: initial, learned: learned,
                                      imageHeight: train.height, imageWidth: train.width, metrics: metrics,
                                      history: trainer.history, probes: probes, settings: runSettings)
        let outFolder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outFolder, withIntermediateDirectories: true)
        try ModelFile(spec: spec, network: trainer.network, augmentation: augmentation, task: task, classes: folder.classes,
                      inputMean: Float(mean), inputStd: Float(std), inputShape: [train.channels, train.height, train.width])
            .write(to: outFolder.appendingPathComponent("model.safetensors"))
        try AtomicFile.write(report.encoded(), to: outFolder.appendingPathComponent("report.json"))
        for invariance in report.invariances where invariance.learned {
            print(String(format: "  %-11@ θ = %.3f   interval [%.3g, %.3g] %@", invariance.generator as NSString, invariance.theta,
                         invariance.interval[0], invariance.interval[1], invariance.unit as NSString))
        }
        for key in metrics.keys.sorted() { print(String(format: "  %@ = %.4f", key as NSString, metrics[key]!)) }
        print("wrote \(out)/model.safetensors and \(out)/report.json")
    }
}

/// The width every learned generator starts from when the manifest gives none: softplus(0).
let defaultInitialWidth = Float(log(2.0))

/// Splits off `fraction` of a dataset (chosen by `seed`) as a test set.
func holdOut(_ data: ImageDataset, fraction: Double, seed: UInt64) -> (ImageDataset, ImageDataset) {
    var random = RandomGenerator(seed: seed).stream(77)
    let order = random.permutation(data.count)
    let testCount = max(1, Int(Double(data.count) * fraction))
    func subset(_ indices: ArraySlice<Int>) -> ImageDataset {
        ImageDataset(images: indices.flatMap { data.images[($0 * data.imageSize)..<(($0 + 1) * data.imageSize)] }, channels: data.channels,
                     height: data.height, width: data.width, targets: indices.map { data.targets[$0] })
    }
    return (subset(order[testCount...]), subset(order[..<testCount]))
}

/// Progress on standard error: a bar with ETA on a terminal, one line per epoch otherwise.
final class ProgressDisplay {
    let total: Int
    let isTerminal = isatty(STDERR_FILENO) == 1
    let start = Date()

    init(total: Int) { self.total = total }

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
        let widths = AffineGenerator.allCases.map { String(format: "%@ %.3f", $0.rawValue as NSString, record.theta[$0.rawValue] ?? 0) }.joined(separator: ", ")
        let line = String(format: "epoch %d/%d: loss %.4f, %@%@; θ: %@ (%@)", record.epoch, total, record.trainLoss, metric, test, widths, duration(record.seconds))
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + "\n").utf8))
    }

    private func duration(_ seconds: Double) -> String {
        seconds >= 60 ? String(format: "%dm%02ds", Int(seconds) / 60, Int(seconds) % 60) : String(format: "%.0fs", seconds)
    }
}
