import Bundle
import Foundation
import Invariance
import NN
import Report

/// One training run on an unpacked dataset: settings resolved (flags, then manifest, then
/// daemon.conf, then built-ins), inputs standardised, the test split (or a seeded held-out
/// tenth of train), the trainer, and at the end the model file and report. `augerino train`
/// and the daemon's worker both drive it epoch by epoch; the worker checkpoints in between.
public final class TrainingRun {
    public let name: String
    /// Every setting, and where it came from.
    public let resolved: RunSettings
    /// The trainer's settings (`resolved.training`).
    public let settings: TrainingSettings
    /// Whether the run ends once its answer has settled (`SettledAnswer`): when its epochs were
    /// derived from the data, not given by a flag, the manifest or daemon.conf.
    public let stopsWhenSettled: Bool
    /// Set once the answer has settled; the run then anneals and ends early.
    public private(set) var settled: SettledAnswer?
    public let task: LearningTask
    public let spec: NetworkSpec
    public let train: ImageDataset
    public let test: ImageDataset
    public let classes: [String]?
    public let trainer: InvarianceTrainer
    public let probeImages: Int
    let initial: [AffineGenerator: Float]
    let learned: Set<AffineGenerator>
    /// Photometric families the run names (`generators`) that these images can have (none unless
    /// named; read by the spread objective, learned by the reward, refused by the evidence).
    let learnedPhotometric: Set<PhotometricFamily>
    let initialPhotometric: [PhotometricFamily: Float]
    /// Families the run names that these images cannot have (saturation and hue need three
    /// channels), with the reason the report gives.
    let leftOutPhotometric: [PhotometricFamily: String]
    /// Mirrors and the transpose the run names that these images can have (a transpose
    /// needs square images), their starting probabilities, and those left out with the reason.
    let learnedSymmetry: Set<SymmetryFamily>
    let initialSymmetry: [SymmetryFamily: Float]
    let leftOutSymmetry: [SymmetryFamily: String]
    let mean: Double, std: Double

    /// smallnet's channel dropout: the reference's 0.3 at its width (k = 128) and above; none
    /// below, where it kept a narrower network from fitting (rotated MNIST at k = 32, 18 epochs:
    /// 91.43% test accuracy with it, 95.99% without; docs/performance.md, session 17).
    public static func defaultDropout(_ architecture: NetworkSpec.Architecture, width: Int) -> Float {
        architecture == .smallnet && width >= 128 ? 0.3 : 0
    }

    /// The width every learned generator starts from when the manifest gives none: softplus(0).
    public static let defaultInitialWidth = Float(log(2.0))
    /// The probability a mirror or the transpose starts from when the manifest gives none:
    /// ½·σ(0), halfway between "never" and "as often as not".
    public static let defaultInitialProbability: Float = 0.25

    /// - Parameters:
    ///   - flags: settings that win over the manifest (command-line flags).
    ///   - defaults: settings the manifest wins over (daemon.conf's `[training]`).
    /// - Throws: `BundleError.manifest` (or `.setting`, when a flag or daemon.conf named them)
    ///   when the generators named hold families the run's objective cannot learn, or
    ///   photometric families on training images of a single value.
    public init(dataset folder: DatasetFolder, flags: SettingValues = SettingValues(), defaults: SettingValues = SettingValues()) throws {
        let manifest = folder.manifest
        let trainImages = folder.train.count
        let resolved = RunSettings.resolve(flags: flags, manifest: manifest.settings, daemon: defaults, task: manifest.task,
                                           channels: folder.train.channels, height: folder.train.height, width: folder.train.width,
                                           trainImages: folder.test == nil ? trainImages - Self.heldOutCount(trainImages) : trainImages)
        let settings = resolved.training
        self.resolved = resolved
        probeImages = resolved.probeImages
        name = manifest.name
        classes = folder.classes

        // Standardise inputs with the manifest's statistics, else the training split's.
        if let givenMean = manifest.inputMean, let givenStd = manifest.inputStd {
            (mean, std) = (Double(givenMean), Double(givenStd))
        } else {
            let pixels = Double(folder.train.images.count)
            let mean = folder.train.images.reduce(0.0) { $0 + Double($1) } / pixels
            let variance = folder.train.images.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / pixels
            (self.mean, std) = (mean, max(1e-6, variance.squareRoot()))
        }
        let (mean, std) = (mean, std)
        func standardised(_ split: DatasetFolder.Split) -> ImageDataset {
            ImageDataset(images: split.images.map { Float((Double($0) - mean) / std) }, channels: split.channels,
                         height: split.height, width: split.width, targets: split.targets)
        }
        var train = standardised(folder.train)
        if let split = folder.test {
            test = standardised(split)
        } else {
            (train, test) = Self.holdOut(train, fraction: 0.1, seed: settings.seed)
        }
        self.train = train
        stopsWhenSettled = resolved.epochsDerived
        self.settings = settings

        task = manifest.task == .classification ? .classification(classes: folder.classes!.count) : .regression
        let architecture = resolved.architecture
        spec = NetworkSpec(architecture: architecture, width: resolved.width,
                           inputChannels: architecture == .mlp ? train.imageSize : train.channels,
                           outputs: folder.classes?.count ?? 1, dropout: Self.defaultDropout(architecture, width: resolved.width))
        let names = resolved.generators
        let learned = Set(names.compactMap(AffineGenerator.init(rawValue:)))
        let initial = Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.map { generator in
            (generator, learned.contains(generator) ? manifest.initialTheta[generator.rawValue] ?? Self.defaultInitialWidth : 0)
        })
        (self.learned, self.initial) = (learned, initial)
        let namedSymmetry = Set(names.compactMap(SymmetryFamily.init(rawValue:)))
        learnedSymmetry = namedSymmetry.filter { $0.applies(height: train.height, width: train.width) }
        leftOutSymmetry = Dictionary(uniqueKeysWithValues: namedSymmetry.compactMap { family in
            family.leftOutBecause(height: train.height, width: train.width).map { (family, $0) }
        })
        initialSymmetry = Dictionary(uniqueKeysWithValues: learnedSymmetry.map { ($0, manifest.initialTheta[$0.rawValue] ?? Self.defaultInitialProbability) })
        let symmetry = try Self.symmetryAugmentation(learnedSymmetry, initial: initialSymmetry, refuse: Self.generatorsRefusal(resolved, manifest),
                                                     objective: settings.objective)
        let augmentation = AffineAugmentation(learned: learned, initialWidths: initial, defaultWidth: Self.defaultInitialWidth, symmetry: symmetry)
        let namedPhotometric = Set(names.compactMap(PhotometricFamily.init(rawValue:)))
        learnedPhotometric = namedPhotometric.filter { $0.applies(channels: train.channels) }
        leftOutPhotometric = Dictionary(uniqueKeysWithValues: namedPhotometric.compactMap { family in
            family.leftOutBecause(channels: train.channels).map { (family, $0) }
        })
        initialPhotometric = Dictionary(uniqueKeysWithValues: learnedPhotometric.map { ($0, manifest.initialTheta[$0.rawValue] ?? Self.defaultInitialWidth) })
        let photometric = try Self.photometricAugmentation(learnedPhotometric, initial: initialPhotometric, refuse: Self.generatorsRefusal(resolved, manifest),
                                                           objective: settings.objective, images: folder.train.images, mean: mean, std: std)
        trainer = InvarianceTrainer(network: spec, augmentation: augmentation, photometric: photometric, task: task, settings: settings)
    }

    /// The error for a rule the run's `generators` break, naming where they were given: the
    /// manifest's `augmentation.generators`, daemon.conf's `[training] generators` or the flag.
    static func generatorsRefusal(_ resolved: RunSettings, _ manifest: Manifest) -> (String) -> BundleError {
        switch resolved.origins[.generators] {
        case .flag?: return { .setting(place: "the command line", key: "--generators", rule: $0) }
        case .daemonConf?: return { .setting(place: "daemon.conf's [training]", key: "generators", rule: $0) }
        default: return { .manifest(file: "the dataset \"\(manifest.name)\"'s manifest.json", key: "augmentation.generators", rule: $0) }
        }
    }

    /// The photometric families' distribution, when the run names any: on the training
    /// split's own range (its smallest value black, its largest white).
    static func photometricAugmentation(_ learned: Set<PhotometricFamily>, initial: [PhotometricFamily: Float], refuse: (String) -> BundleError,
                                        objective: WidthObjective, images: [Float], mean: Double, std: Double) throws -> PhotometricAugmentation? {
        guard !learned.isEmpty else { return nil }
        let names = PhotometricFamily.allCases.filter(learned.contains).map(\.rawValue).joined(separator: ", ")
        guard objective != .evidence else {
            throw refuse(notUnderEvidence(names))
        }
        // The map onto [0, 1] must be finite: a range of a few subnormals would make its gain infinite.
        guard let low = images.min(), let high = images.max(), high > low, (Float(std) / (high - low)).isFinite,
              ((Float(mean) - low) / (high - low)).isFinite else {
            throw refuse("names \(names), but the training pixels span no "
                + "usable range (all one value, or too close together for float arithmetic): brightness, contrast and gamma act on the "
                + "range between the darkest and the brightest; leave them out")
        }
        return PhotometricAugmentation(learned: learned, initialWidths: initial, defaultWidth: defaultInitialWidth,
                                       mean: Float(mean), std: Float(std), low: low, high: high)
    }

    /// Why the evidence objective refuses `names`, and what to do.
    static func notUnderEvidence(_ names: String) -> String {
        "names \(names), which the evidence objective cannot learn (its Laplace evidence covers the affine generators only): set the "
            + "objective to spread or reward (manifest training.objective, or --objective), or leave \(names) out"
    }

    /// The mirrors' distribution, when the run names any the images can have.
    static func symmetryAugmentation(_ learned: Set<SymmetryFamily>, initial: [SymmetryFamily: Float], refuse: (String) -> BundleError,
                                     objective: WidthObjective) throws -> SymmetryAugmentation? {
        guard !learned.isEmpty else { return nil }
        guard objective != .evidence else {
            let names = SymmetryFamily.allCases.filter(learned.contains).map(\.rawValue).joined(separator: ", ")
            throw refuse(notUnderEvidence(names))
        }
        return SymmetryAugmentation(learned: learned, initialProbabilities: initial, defaultProbability: defaultInitialProbability)
    }

    /// Epochs finished so far (after `resume(from:)`, those of the checkpoint).
    public var epochsDone: Int { trainer.epoch }
    /// The epochs this run will take: its budget, or fewer once its answer has settled.
    public var plannedEpochs: Int { settled.map { $0.epoch + $0.annealEpochs } ?? settings.epochs }
    public var isFinished: Bool { trainer.epoch >= plannedEpochs }

    /// One line describing the run, for logs.
    public var summary: String {
        "\(name): \(train.count) training and \(test.count) test images of \(train.channels)x\(train.height)x\(train.width), " +
            "\(spec.architecture.rawValue) width \(spec.width), " + (stopsWhenSettled ? "up to \(settings.epochs) epochs (fewer once the answer settles)" : "\(settings.epochs) epochs")
    }

    /// Trains the next epoch; the per-epoch test metric uses at most 2,000 test images.
    /// - Throws: `InvarianceError.diverged`, or what `progress(done, total)` throws to stop.
    public func trainNextEpoch(progress: (Int, Int) throws -> Void = { _, _ in }) throws -> EpochRecord {
        let record = try trainer.trainEpoch(train, test: test.prefix(2000), progress: progress)
        checkSettled()
        return record
    }

    /// Looks for a settled answer in the history; once found, the trainer anneals from the
    /// settled epoch's last step to `annealEpochs` later (a constant schedule just stops).
    private func checkSettled() {
        guard stopsWhenSettled, settled == nil,
              let found = SettledAnswer.find(history: trainer.history, budget: settings.epochs, regression: task == .regression,
                                             heldOutImages: min(2000, test.count), imageHeight: train.height, imageWidth: train.width,
                                             anneals: settings.schedule == .cosine) else { return }
        settled = found
        let steps = InvarianceTrainer.batchesPerEpoch(images: train.count, batchSize: settings.batchSize)
        trainer.anneal = (fromStep: found.epoch * steps, toStep: (found.epoch + found.annealEpochs) * steps)
    }

    /// Everything needed to continue this run bit-exactly from the current epoch.
    public func checkpoint() -> TrainingCheckpoint { trainer.checkpoint() }

    /// Continues from a checkpoint that a run on the same data and settings wrote.
    /// - Throws: `NNError` naming what does not match.
    public func resume(from checkpoint: TrainingCheckpoint, source: String) throws {
        try trainer.restore(checkpoint, source: source)
        settled = nil
        trainer.anneal = nil
        checkSettled()  // a run that had settled (or even ended) is known as such at once
    }

    /// Evaluates with N copies and a single pass, runs the probes, and assembles the results.
    /// `provenance` (the data's hashes, say) joins the report's settings. `progress(done,
    /// total)` hears the work done in image passes (one image through the network once).
    public func finish(threads: Int, provenance: [String: String] = [:], progress: (Int, Int) -> Void = { _, _ in }) -> TrainingResult {
        let metricName = task == .regression ? "mse" : "accuracy"
        var metrics: [String: Double] = [:]
        let copies = max(1, settings.testCopies)
        let probePasses = probeImages == 0 ? 0 : probeImagePasses(images: min(probeImages, test.count), copies: settings.testCopies,
                                                                   height: test.height, width: test.width, families: learnedPhotometric,
                                                                   symmetries: learnedSymmetry)
        let total = test.count * copies + test.count + probePasses
        let start = Date()
        metrics["test_\(metricName)"] = trainer.evaluate(test, copies: settings.testCopies) { progress($0 * copies, total) }
        let copiesSeconds = Date().timeIntervalSince(start)
        let single = Date()
        metrics["test_\(metricName)_single"] = trainer.evaluate(test, copies: 0) { progress(test.count * copies + $0, total) }
        let singleSeconds = Date().timeIntervalSince(single)
        metrics["test_seconds_per_image"] = copiesSeconds / Double(max(1, test.count))
        metrics["test_seconds_per_image_single"] = singleSeconds / Double(max(1, test.count))
        let probes = probeImages == 0 ? [] :
            probeInvariances(trainer.predictor, data: test, copies: settings.testCopies, limit: probeImages, seed: settings.seed) {
                progress(test.count * (copies + 1) + $0, total)
            }
        metrics["train_loss"] = trainer.history.last?.trainLoss
        metrics["train_\(metricName)"] = trainer.history.last?.trainMetric
        let runSettings: [String: String] = [
            "seed": String(settings.seed), "regularization": String(settings.regularization), "learning_rate": String(settings.learningRate),
            "objective": settings.objective.rawValue, "reward_units": settings.rewardUnits.rawValue, "schedule": settings.schedule.rawValue,
            "reward_cap": settings.rewardCap.map { String($0) } ?? "none",
            "width_learning_rate": String(settings.widthLearningRate ?? settings.learningRate),
            "epochs": String(settings.epochs),
            "stop": settled.map { $0.description(budget: settings.epochs) }
                ?? (stopsWhenSettled ? "the whole budget: the answer had not settled" : "the epochs given"),
            "batch_size": String(settings.batchSize), "test_copies": String(settings.testCopies),
            "weight_decay": String(settings.weightDecay), "given": resolved.givenText, "model": "\(spec.architecture.rawValue)(\(spec.width))",
            "input_mean": String(mean), "input_std": String(std), "threads": String(threads),
        ]
        let augmentation = trainer.augmentation
        var report = InvarianceReport(name: name, task: task, widths: augmentation.widthValues, initial: initial, learned: learned,
                                      imageHeight: train.height, imageWidth: train.width, metrics: metrics,
                                      history: trainer.history, probes: probes, settings: runSettings.merging(provenance) { $1 })
        report.addPhotometric(widths: trainer.photometric?.widthValues ?? [:], initial: initialPhotometric, learned: learnedPhotometric,
                              leftOut: leftOutPhotometric)
        report.addSymmetry(probabilities: augmentation.symmetry?.probabilityValues ?? [:], initial: initialSymmetry, learned: learnedSymmetry,
                           leftOut: leftOutSymmetry)
        report.samples = samples(4)
        if let estimate = trainer.spreadEstimate { report.setSpreadReading(estimate, imageHeight: train.height, imageWidth: train.width) }
        if let estimate = trainer.photometricSpreadEstimate { report.setPhotometricReading(estimate) }
        let model = ModelFile(spec: spec, network: trainer.network, augmentation: augmentation, photometric: trainer.photometric, task: task, classes: classes,
                              inputMean: Float(mean), inputStd: Float(std), inputShape: [train.channels, train.height, train.width])
        return TrainingResult(model: model, report: report)
    }

    /// Up to `count` test inputs in the data's own units, one per class first.
    func samples(_ count: Int) -> [InvarianceReport.Sample] {
        var chosen: [Int] = [], seenTargets: Set<Float> = []
        for i in 0..<test.count where chosen.count < count && seenTargets.insert(test.targets[i]).inserted { chosen.append(i) }
        for i in 0..<test.count where chosen.count < count && !chosen.contains(i) { chosen.append(i) }
        return chosen.map { i in
            let values = test.images[(i * test.imageSize)..<((i + 1) * test.imageSize)].map { Float(Double($0) * std + mean) }
            return InvarianceReport.Sample(shape: [test.channels, test.height, test.width], values: values)
        }
    }

    /// SHA-256 of a dataset folder: of the lines "path sha256" of every regular file, sorted.
    public static func folderDigest(_ folder: URL) throws -> String {
        let base = folder.standardizedFileURL.path
        var lines: [String] = []
        let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            lines.append("\(url.standardizedFileURL.path.dropFirst(base.count + 1)) \(try SHA256.hash(file: url.path))")
        }
        var hasher = SHA256()
        hasher.update(Array(lines.sorted().joined(separator: "\n").utf8))
        return hasher.finalize()
    }

    /// Images `holdOut` takes from `count` (at least one).
    public static func heldOutCount(_ count: Int, fraction: Double = 0.1) -> Int { max(1, Int(Double(count) * fraction)) }

    /// Splits off `fraction` of a dataset (chosen by `seed`) as a test set.
    public static func holdOut(_ data: ImageDataset, fraction: Double, seed: UInt64) -> (ImageDataset, ImageDataset) {
        var random = RandomGenerator(seed: seed).stream(77)
        let order = random.permutation(data.count)
        let testCount = heldOutCount(data.count, fraction: fraction)
        func subset(_ indices: ArraySlice<Int>) -> ImageDataset {
            ImageDataset(images: indices.flatMap { data.images[($0 * data.imageSize)..<(($0 + 1) * data.imageSize)] }, channels: data.channels,
                         height: data.height, width: data.width, targets: indices.map { data.targets[$0] })
        }
        return (subset(order[testCount...]), subset(order[..<testCount]))
    }
}

/// What a finished run leaves: the model file and the report.
public struct TrainingResult {
    public let model: ModelFile
    public let report: InvarianceReport

    /// Writes model.safetensors, report.json, report.html and report.md into `folder` (which
    /// must exist), each atomically and durably (temporary file, fsync, rename).
    public func write(into folder: URL) throws {
        try model.write(to: folder.appendingPathComponent("model.safetensors"))
        try AtomicFile.write(report.encoded(), to: folder.appendingPathComponent("report.json"))
        try ReportPages.write(report, into: folder)
    }
}
