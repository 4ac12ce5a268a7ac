import Foundation
import NN

/// How far a dataset's own images vary along each generator within a class. Each image's pose
/// is found by aligning the class's images to one another (`PoseAlignment`: an image planted at
/// pose p needs coordinates ε ≈ −p to meet the others), and the spread of those poses within a
/// class is the spread in the data:
///
/// - a straight generator: a² = 3·(S² − σ²), S² the poses' variance within a class and σ² the
///   alignment's own error, measured on pairs (an image, and the same image warped by a known
///   δ and aligned again to the same templates: the poses differ by g·δ plus two errors, so
///   the gain g is the slope and σ² = Var(residual)/2);
/// - rotation, on the circle: E[cos ε] = sin a / a for ε uniform in ±a, from the poses' mean
///   resultant length R within a class, divided by the error's E[cos e] (the square root of
///   the pairs' residuals' mean resultant length); ±180° reads as R = 0.
///
/// The full width θ = 2a is what `AffineAugmentation` calls a width, so the result can be the
/// augmentation's widths directly. Nothing here has a weight to choose: the answer is a
/// property of the data, not of a reward's balance (docs/performance.md, "Fidelity").
///
/// A label-dependent transformation reads as what it is within a class: classes are aligned
/// apart (each to its own template), and for regression the targets are cut into groups by
/// their quantiles, whose templates show what the target moves (`Estimate.followsTarget`).
/// Where those groups share no one form (every kind of image in each), what the target moves
/// in a straight line is undone and the spread is read within the forms of the whole set.
public struct SpreadEstimator {
    /// What the alignment measured.
    public struct Estimate: Sendable, Equatable {
        /// Full widths θ = 2a by generator (0 for generators not estimated).
        public var widths: [AffineGenerator: Float]
        /// The poses' spread before the alignment's error was taken off, as a full width.
        public var rawWidths: [AffineGenerator: Float]
        /// The alignment's own error per pose, as a full width of the same units (rotation: the
        /// uniform width whose mean resultant length is the error's E[cos e]).
        public var alignmentError: [AffineGenerator: Float]
        /// How much the pose moves per unit of applied δ (1 for a perfect alignment): the
        /// median of the pairs' slopes (Theil–Sen), so that the few images a turn search sent
        /// elsewhere do not move it. Below 0.25 the alignment cannot see the generator and its
        /// width is 0. The widths are not divided by it: on MNIST rotated within ±60° the
        /// least-squares gain was 0.49 without the search, and divided the rotation read ±110°
        /// where ±64° (the planted with the source's own) is true (docs/performance.md,
        /// "Reading the spread by alignment").
        public var gains: [AffineGenerator: Float]
        /// How each generator's reading moves with each generator's applied δ (Theil–Sen over the
        /// pairs, which warp by all of them at once; the diagonal is `gains`): row k, column j is
        /// ∂pose_k/∂δ_j with each measured in its own pair range (±1 px, ±10°, ±0.05), so that a
        /// shift and a turn compare. On MNIST no generator moves another by more than 0.11 of
        /// that (stretch by shear, one seed; docs/performance.md, session 36). Generators not
        /// estimated have no row and no column.
        public var responses: [AffineGenerator: [AffineGenerator: Float]] = [:]
        /// How sure the width is: the 5th to the 95th percentile of the widths read from
        /// resamples of the images read (drawn with replacement, 200 times). It says how much
        /// the answer would move with other images of the same data, not how far the alignment
        /// errs (docs/performance.md). Only for the generators estimated.
        public var bands: [AffineGenerator: ClosedRange<Float>] = [:]
        /// For a regression (`groupsFollowATarget`): how far the groups' templates move along
        /// each generator from the lowest targets' group to the highest's (the fitted line's
        /// rise, in the generator's units) and how straight (R² of that line).
        public var targetTrends: [AffineGenerator: TargetTrend] = [:]
        /// The generators along which the target itself changes (`targetTrends`: a straight
        /// move, R² ≥ 0.8, wider than the spread within a group): transforming an image along
        /// one changes its target, so it reads as none whatever its spread within a group.
        public var followsTarget: Set<AffineGenerator> = []
        /// The mirrors' and quarter turns' reading (`SymmetrySpread`), when any was read.
        public var symmetry: SymmetrySpread.Estimate? = nil
        /// How many forms each group was read within (`readsModes`), when any group without one
        /// form was split (1 for a group read whole); empty when none was. For a regression whose
        /// groups share no one form, one entry, 0: the forms of the whole set.
        public var forms: [Int: Int] = [:]
        /// The aligned form fit (`PoseModes.alignedFormFits`) of every group, when the mirrors'
        /// form fits were read (two groups or more, not all of them without one form already).
        public var alignedFormFits: [Int: Float] = [:]
    }

    /// How the groups' templates move along one generator with a regression's target.
    public struct TargetTrend: Sendable, Equatable {
        /// The fitted line's rise from the lowest group's mean target to the highest's, in the
        /// generator's units (absolute).
        public var move: Float
        /// R² of the line.
        public var fit: Float
        /// The line's slope: the generator's units per unit of target (signed).
        public var slope: Float = 0
        /// The groups' mean target at the middle of the line (the mean of their means).
        public var middle: Float = 0
    }

    /// Below this gain a generator reads as none (see `estimate`).
    static let blindGain = 0.25

    /// Generators whose spread is read (the others report 0).
    public var estimated: Set<AffineGenerator>
    /// Mirrors and quarter turns whose probability is read (`SymmetrySpread`) after the
    /// generators' first alignment (a class spread over the whole circle on its images aligned,
    /// the others as they are): along those seen, the images are then aligned again, each turned
    /// to its class's form.
    public var symmetries: Set<SymmetryFamily> = []
    /// Images read, at most: a random choice (a split sorted by class keeps every class).
    public var images = 1000
    /// The groups are quantiles of a regression target, in its order (`grouping`): the groups'
    /// templates are then aligned to their neighbours', and a generator along which they move
    /// with the target reads as none (`Estimate.followsTarget`). Within a group a target that
    /// *is* the angle still spans a tenth of its range, and the group's template is a blur of
    /// every kind of image, so the spread within a group cannot tell that the angle is the label.
    public var groupsFollowATarget = false
    public var alignment: PoseAlignment
    /// Whether a group that the mirrors' reading finds without one form (`SymmetrySpread`'s form
    /// fit over `PoseModes.noOneForm`; or with sizes, aspects and slants aligned away,
    /// `PoseModes.alignedNoOneForm`) is read within its forms (`PoseModes`: found with the
    /// alignment inside the clustering), so that digits labelled by their pose are not read as
    /// one form whose differences are poses. Groups with one form are read whole: split, a
    /// class of one form in many poses is split partly by its poses, and reads short (6s and 9s
    /// turned ±45°, 500 a class: ±39° where ±49° is true). Where the mirrors are not read (a
    /// manifest that names generators without them, images that are not square) there is no
    /// form fit, and every group is read whole. A regression's groups without one form are not
    /// split each, but the whole set is (after `undoingTrends`). `bench
    /// fidelity --whole-classes` reads without, to compare.
    public var readsModes = true
    var modes = PoseModes()

    public init(estimated: Set<AffineGenerator>) {
        self.estimated = estimated
        alignment = PoseAlignment(estimated: estimated)
    }

    /// The group of each target: the class, or the regression target's decile among `reference`.
    public static func grouping(task: LearningTask, reference: [Float]) -> ([Float]) -> [Int] {
        switch task {
        case .classification: return { $0.map { Int($0) } }
        case .regression:
            let sorted = reference.sorted()
            let cuts = (1..<10).map { sorted[min(sorted.count - 1, $0 * sorted.count / 10)] }
            return { $0.map { target in cuts.filter { target >= $0 }.count } }
        }
    }

    /// Alignment steps `estimate` takes, at most: three alignments (the groups to one another,
    /// then the plain and the warped images of the pairs to the templates found), one more for
    /// a regression's groups, and one more when mirrors are read and seen (the images aligned
    /// again, each turned to its class's form). A reading that tests classes for their forms
    /// or splits them (`readsModes`) takes more, and its progress's total grows by them when it
    /// knows.
    public var steps: Int { (3 + (groupsFollowATarget ? 1 : 0) + (symmetries.isEmpty ? 0 : 1)) * alignment.steps }

    /// Reads the spread of `data`'s poses within `group` (`images` of them, chosen at random).
    /// `progress(done, steps)` hears each alignment step; what it throws stops the reading.
    public func estimate(_ data: ImageDataset, group: ([Float]) -> [Int], random: inout RandomGenerator,
                         progress: (Int, Int) throws -> Void = { _, _ in }) throws -> Estimate {
        let chosen = data.count <= images ? Array(0..<data.count) : random.permutation(data.count).prefix(images).sorted()
        let data = ImageDataset(images: TensorContext.withoutGradients { data.batch(chosen).values }, channels: data.channels,
                                height: data.height, width: data.width, targets: chosen.map { data.targets[$0] })
        let (n, c, h, w) = (data.count, data.channels, data.height, data.width)
        let background = Self.background(data)
        var centred = TensorContext.withoutGradients { (data.batch(0..<n) - background).values }
        var groups = group(data.targets)
        let mirrors = SymmetrySpread(families: symmetries)
        var mirrorsRandom = random.stream(40)
        guard !estimated.isEmpty else {
            let zero = Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.map { ($0, Float(0)) })
            let symmetry = symmetries.isEmpty ? nil : mirrors.read(centred, channels: c, height: h, width: w, groups: groups, random: &mirrorsRandom).estimate
            return Estimate(widths: zero, rawWidths: zero, alignmentError: zero, gains: zero, symmetry: symmetry)
        }
        var (done, total) = (0, steps)
        let report: () throws -> Void = { done += 1; try progress(done, total) }
        let (congealed, first) = try alignment.align(centred, channels: c, height: h, width: w, groups: groups, progress: report)
        var templates = first, poses = congealed
        var symmetry: SymmetrySpread.Estimate? = nil
        if !symmetries.isEmpty {
            // A class spread over the whole circle is read aligned: its digits upright again, its
            // template a digit, not a blur (mirrors and half or quarter turns are symmetries of
            // the same square, so a turn left in reads as a mirror: rotated MNIST read p 0.44–0.46
            // for all three as it was). The others are read as they are: aligned to a template
            // that blends a class's two orientations, a garment is drawn toward the blend, and its
            // mirror no longer shows (half-mirrored Fashion-MNIST read p 0.03–0.04 aligned).
            // Images turned to their class's form along the mirrors seen are then aligned again.
            let round = first.round
            let aligned = round.isEmpty ? centred : AffineAugmentation.warped(centred, channels: c, height: h, width: w, epsilon: (0..<n).flatMap {
                round.contains(groups[$0]) ? congealed[$0] : [Float](repeating: 0, count: 6)
            })
            let (read, orientations) = mirrors.read(aligned, channels: c, height: h, width: w, groups: groups, random: &mirrorsRandom)
            symmetry = read
            if orientations.contains(where: { $0 != .identity }) {
                centred = SymmetrySpread.orient(centred, orientations, channels: c, height: h, width: w)
                (poses, templates) = try alignment.align(centred, channels: c, height: h, width: w, groups: groups, progress: report)
            }
        }
        let trends = groupsFollowATarget
            ? try Self.templateTrends(templates.levels.last ?? [:], groups: groups, targets: data.targets, alignment: alignment,
                                      channels: c, height: h, width: w, progress: report)
            : [:]
        var forms: [Int: Int] = [:], alignedFormFits: [Int: Float] = [:]
        let formFits = symmetry?.formFits ?? [:]
        var mixed = Set(formFits.filter { $0.value > PoseModes.noOneForm }.keys)
        if readsModes, formFits.count >= 2, mixed.count < formFits.count {
            // Each group tested again with its sizes, aspects and slants aligned away
            // (`PoseModes.alignedNoOneForm`): labels by a size, an aspect or a slant leave each
            // class nearer its own size, aspect or slant than the whole set's blend, which the
            // mirrors' fit, centring each image but keeping its size, aspect and slant, reads as
            // a form. A group nearly without one form by the mirrors' fit is split when it is
            // without one here; every group is split when none has one here and none is spread
            // over the whole circle (this fit searches no turn: MNIST turned all round read 8 of
            // its 10 classes 0.94–1.08).
            total += modes.alignedFormFitSteps
            alignedFormFits = try modes.alignedFormFits(centred, channels: c, height: h, width: w, groups: groups, alignment: alignment, progress: report)
            if templates.round.isEmpty, alignedFormFits.values.allSatisfy({ $0 >= PoseModes.alignedNoOneForm }) {
                mixed = Set(formFits.keys)
            } else {
                mixed.formUnion(formFits.filter { $0.value > PoseModes.nearlyNoOneForm && (alignedFormFits[$0.key] ?? 0) >= PoseModes.alignedNoOneForm }.keys)
            }
        }
        mixed.subtract(templates.round)
        if readsModes, groupsFollowATarget, !mixed.isEmpty {
            // A regression's groups are quantiles of its target and mix every form: a tenth of the
            // images is too few for every form (read within two forms a decile, MNIST turned by its
            // target read scale, stretch and shear 50–63% over MNIST's own). The forms are found over the
            // whole set instead, with what the target explains undone first (an image turned as
            // far as its target says is turned back), and the spread is read within them; a
            // generator the target moves reads as none as before (`followsTarget`).
            centred = Self.undoingTrends(trends, targets: data.targets, images: centred, channels: c, height: h, width: w)
            let one = [Int](repeating: 0, count: n)
            var modesRandom = random.stream(41)
            total += modes.steps(groupSizes: [n]) + 2 * alignment.steps
            let first = try alignment.align(centred, channels: c, height: h, width: w, groups: one, progress: report).epsilon
            groups = try modes.split(centred, channels: c, height: h, width: w, groups: one, epsilon: first,
                                     whole: [], alignment: alignment, random: &modesRandom, progress: report)
            forms[0] = Set(groups).count
            templates = try alignment.align(centred, channels: c, height: h, width: w, groups: groups, progress: report).templates
        } else if readsModes, !mixed.isEmpty {
            // A class with no one form read within its forms (digits labelled by their pose: each
            // digit against its own kind, not against a blur of all ten).
            var modesRandom = random.stream(41)
            total += modes.steps(groupSizes: mixed.map { g in groups.filter { $0 == g }.count }) + alignment.steps
            let split = try modes.split(centred, channels: c, height: h, width: w, groups: groups, epsilon: poses,
                                        whole: Set(groups).subtracting(mixed), alignment: alignment, random: &modesRandom, progress: report)
            for id in Set(split) { forms[id / modes.maxModes, default: 0] += 1 }
            if forms.values.contains(where: { $0 > 1 }) {
                groups = split
                templates = try alignment.align(centred, channels: c, height: h, width: w, groups: groups, progress: report).templates
            }
        }
        // Pairs: δ within a small range (rotation ±10°, translations ±1 px, the others ±0.05),
        // aligned to the same templates as the plain images: the gain near the poses the data
        // has (a wide δ carries images past them, where the alignment falls shorter).
        let translation = 1 / (0.05 * max(1, Float(min(h, w)) - 1))
        let range: [Float] = AffineGenerator.allCases.map { g in
            switch g {
            case .translateX, .translateY: return translation
            case .rotation: return 10 * .pi / 180
            case .scale, .stretch, .shear: return 0.05
            }
        }
        let delta = (0..<(n * 6)).map { i in estimated.contains(AffineGenerator.allCases[i % 6]) ? (random.nextFloat() * 2 - 1) * range[i % 6] : 0 }
        let warped = AffineAugmentation.warped(centred, channels: c, height: h, width: w, epsilon: delta)
        let plain = try alignment.align(centred, channels: c, height: h, width: w, groups: groups, templates: templates, progress: report).epsilon
        let moved = try alignment.align(warped, channels: c, height: h, width: w, groups: groups, templates: templates, progress: report).epsilon
        var estimate = Estimate(widths: [:], rawWidths: [:], alignmentError: [:], gains: [:], symmetry: symmetry, forms: forms,
                                alignedFormFits: alignedFormFits)
        for generator in AffineGenerator.allCases {
            guard estimated.contains(generator) else {
                (estimate.widths[generator], estimate.rawWidths[generator], estimate.alignmentError[generator], estimate.gains[generator]) = (0, 0, 0, 0)
                continue
            }
            let k = generator.index
            // A pose p needs ε ≈ −p, and an image warped by δ needs ε − δ: its pose moves by δ.
            let poses = plain.map { -$0[k] }
            let deltas = (0..<n).map { Double(delta[$0 * 6 + k]) }
            let wrap: (Float) -> Float = { generator == .rotation ? atan2(sin($0), cos($0)) : $0 }
            let changes = (0..<n).map { Double(wrap(plain[$0][k] - moved[$0][k])) }
            let gain = Self.theilSen(deltas, changes)
            estimate.responses[generator] = Dictionary(uniqueKeysWithValues: AffineGenerator.allCases.filter(estimated.contains).map { j in
                // The diagonal is the gain itself (scaled by range[k] / range[k], it could differ in its last bit).
                guard j != generator else { return (j, Float(gain)) }
                let slope = Self.theilSen((0..<n).map { Double(delta[$0 * 6 + j.index]) }, changes)
                return (j, Float(slope) * range[j.index] / range[k])
            })
            let all = Self.reading(generator, poses: poses, groups: groups, deltas: deltas, changes: changes, gain: gain, halfTurn: templates.halfTurn)
            (estimate.widths[generator], estimate.rawWidths[generator], estimate.alignmentError[generator]) = (all.width, all.raw, all.error)
            // An alignment that follows less than a quarter of an applied change cannot see this
            // generator in these images (a round spot under a turn): its poses are noise, and
            // the images are the same along it anyway, so it reads as none.
            if let trend = trends[generator] {
                estimate.targetTrends[generator] = trend
                if trend.fit >= Self.straightTrend, trend.move >= all.raw { estimate.followsTarget.insert(generator) }
            }
            if gain < Self.blindGain || estimate.followsTarget.contains(generator) {
                estimate.widths[generator] = 0
                estimate.bands[generator] = 0...0
            } else {
                // How sure: the images read are a sample; the same reading of resamples of them
                // (images drawn with replacement, each with its pair; the gain held).
                estimate.bands[generator] = Self.band(images: n, random: random.stream(UInt64(16 + k))) { drawn in
                    Self.reading(generator, poses: drawn.map { poses[$0] }, groups: drawn.map { groups[$0] },
                                 deltas: drawn.map { deltas[$0] }, changes: drawn.map { changes[$0] }, gain: gain, halfTurn: templates.halfTurn).width
                }
            }
            estimate.gains[generator] = Float(gain)
        }
        return estimate
    }

    /// R² from which the groups' templates follow the target (`Estimate.followsTarget`): a
    /// random walk of nine steps fits a line that well about one time in six, so the move must
    /// also be wider than the spread within a group.
    static let straightTrend: Float = 0.8

    /// For groups that are quantiles of a target: each group's template aligned to the next's
    /// (the two congealed together), the moves summed from the lowest targets' group up, and a
    /// line fitted to those poses against the groups' mean targets. Per generator: the line's
    /// rise over the groups' range of mean targets (absolute, in the generator's units) and its
    /// R². Empty with fewer than three groups.
    static func templateTrends(_ templates: [Int: [Float]], groups: [Int], targets: [Float], alignment: PoseAlignment,
                               channels: Int, height: Int, width: Int,
                               progress: () throws -> Void) rethrows -> [AffineGenerator: TargetTrend] {
        var sums: [Int: (total: Double, count: Int)] = [:]
        for (g, t) in zip(groups, targets) { sums[g, default: (0, 0)].total += Double(t); sums[g, default: (0, 0)].count += 1 }
        let mean = { (g: Int) -> Double in sums[g]!.total / Double(sums[g]!.count) }
        let order = templates.keys.filter { sums[$0] != nil }.sorted { mean($0) < mean($1) }
        guard order.count >= 3 else { return [:] }
        var images: [Float] = [], pairs: [Int] = []
        for j in 0..<(order.count - 1) {
            images += templates[order[j]]! + templates[order[j + 1]]!
            pairs += [j, j]
        }
        let epsilon = try alignment.align(images, channels: channels, height: height, width: width, groups: pairs, progress: progress).epsilon
        let x = order.map(mean)
        var trends: [AffineGenerator: TargetTrend] = [:]
        for generator in AffineGenerator.allCases where alignment.estimated.contains(generator) {
            let k = generator.index
            // A pose p needs ε ≈ −p: the next template's pose less this one's is ε here less ε there.
            var poses = [0.0]
            for j in 0..<(order.count - 1) {
                let step = epsilon[2 * j][k] - epsilon[2 * j + 1][k]
                poses.append(poses.last! + Double(generator == .rotation ? atan2(sin(step), cos(step)) : step))
            }
            let (mx, my) = (x.reduce(0, +) / Double(x.count), poses.reduce(0, +) / Double(poses.count))
            let sxy = zip(x, poses).reduce(0.0) { $0 + ($1.0 - mx) * ($1.1 - my) }
            let sxx = x.reduce(0.0) { $0 + ($1 - mx) * ($1 - mx) }, syy = poses.reduce(0.0) { $0 + ($1 - my) * ($1 - my) }
            guard sxx > 0 else { continue }
            let slope = sxy / sxx
            trends[generator] = TargetTrend(move: Float(abs(slope) * (x.last! - x.first!)), fit: syy > 0 ? Float(sxy * sxy / (sxx * syy)) : 0,
                                            slope: Float(slope), middle: Float(mx))
        }
        return trends
    }

    /// `images` with what a regression's target explains undone: along each generator whose
    /// groups' templates follow the target in a straight line (R² ≥ `straightTrend`), each
    /// image is warped by the line's pose at its own target, less the middle's, taken back
    /// (an image turned by its target turned upright again). The others as they are.
    static func undoingTrends(_ trends: [AffineGenerator: TargetTrend], targets: [Float], images: [Float],
                              channels: Int, height: Int, width: Int) -> [Float] {
        let straight = trends.filter { $0.value.fit >= straightTrend }
        guard !straight.isEmpty else { return images }
        // A pose p needs ε = −p to be undone.
        let epsilon = targets.flatMap { t in
            AffineGenerator.allCases.map { g in straight[g].map { -$0.slope * (t - $0.middle) } ?? 0 }
        }
        return AffineAugmentation.warped(images, channels: channels, height: height, width: width, epsilon: epsilon)
    }

    /// Resamples of the images read behind each band (`Estimate.bands`).
    static let resamples = 200

    /// The 5th to the 95th percentile of `width` over `resamples` draws of `images` indices with
    /// replacement (each a list of the images drawn), from `random`.
    static func band(images n: Int, random: RandomGenerator, width: ([Int]) -> Float) -> ClosedRange<Float> {
        var resampling = random
        let widths = (0..<resamples).map { _ in width((0..<n).map { _ in resampling.nextInt(below: n) }) }.sorted()
        return widths[resamples / 20]...widths[resamples - 1 - resamples / 20]
    }

    /// One generator's full width from the poses and the pairs (the changes their poses made
    /// under δ, with the gain): the width less the alignment's error, the raw width, the error.
    static func reading(_ generator: AffineGenerator, poses: [Float], groups: [Int], deltas: [Double], changes: [Double],
                        gain: Double, halfTurn: Set<Int> = []) -> (width: Float, raw: Float, error: Float) {
        if generator == .rotation {
            // On the circle: a reading's error e shrinks the mean resultant length by E[cos e],
            // and a pair's two errors shrink the pairs' residuals' by E[cos e]², whatever e's
            // law (a turn now and then read in the wrong mode included).
            let residuals = zip(changes, deltas).map { Float($0 - gain * $1) }
            let shrink = max(1e-3, meanResultantLength(residuals, groups: residuals.map { _ in 0 })).squareRoot()
            // A group that looks the same turned half a turn folds any turn into ±90°: spread
            // over ±90° or more (its doubled angles' resultant under `foldedResultant`), it cannot
            // tell ±90° from the whole circle, and the other groups speak for the turn.
            let folded = Set(halfTurn.filter { g in
                let doubled = zip(poses, groups).filter { $0.1 == g }.map { 2 * $0.0 }
                return doubled.count > 1 && meanResultantLength(doubled, groups: doubled.map { _ in 0 }) < foldedResultant
            })
            let kept = poses.indices.filter { !folded.contains(groups[$0]) }
            let (angles, angleGroups) = kept.isEmpty ? (poses, groups) : (kept.map { poses[$0] }, kept.map { groups[$0] })
            if consistentWithTheWholeCircle(angles, groups: angleGroups) {
                // The debiased resultant is still above 0 by chance (each group's is cut at 0),
                // and ±175° would be read where nothing tells it from the whole circle.
                return (2 * .pi, 2 * .pi, 2 * uniformHalfWidth(meanResultantLength: shrink))
            }
            let spread = meanResultantLength(angles, groups: angleGroups)
            return (2 * uniformHalfWidth(meanResultantLength: min(1, spread / shrink)), 2 * uniformHalfWidth(meanResultantLength: spread),
                    2 * uniformHalfWidth(meanResultantLength: shrink))
        }
        let variance = withinGroupVariance(poses, groups: groups)
        let noise = gainAndError(applied: deltas, changes: changes).errorVariance
        return (Float(2 * (3 * max(0, variance - noise)).squareRoot()), Float(2 * (3 * max(0, variance)).squareRoot()), Float(2 * (3 * noise).squareRoot()))
    }

    /// A half-turn group whose doubled angles' debiased resultant is under this is spread over
    /// ±78° or more (sin 2a / 2a = 0.15): folded into ±90°, its spread says nothing past it.
    static let foldedResultant = 0.15

    /// The mean of every image's outermost pixels, per channel: [1, C, 1, 1].
    static func background(_ data: ImageDataset) -> Tensor {
        var sums = [Double](repeating: 0, count: data.channels), count = 0
        for image in 0..<data.count {
            for c in 0..<data.channels {
                let plane = (image * data.channels + c) * data.height * data.width
                for y in 0..<data.height { for x in 0..<data.width where y == 0 || x == 0 || y == data.height - 1 || x == data.width - 1 {
                    sums[c] += Double(data.images[plane + y * data.width + x])
                    if c == 0 { count += 1 }
                } }
            }
        }
        return Tensor(shape: [1, data.channels, 1, 1], values: sums.map { Float($0 / Double(max(1, count))) })
    }
    /// The alignment answers gain·pose + error. From pairs (the δ applied, and how much the pose
    /// changed): the gain is the least-squares slope of the change against δ (an alignment that
    /// falls short answers nearer its group's centre; at least 0.05), the error variance what
    /// the slope leaves, halved (each change holds two readings' errors).
    static func gainAndError(applied deltas: [Double], changes: [Double]) -> (gain: Double, errorVariance: Double) {
        let meanDelta = deltas.reduce(0, +) / Double(max(1, deltas.count))
        let meanChange = changes.reduce(0, +) / Double(max(1, changes.count))
        let covariance = zip(deltas, changes).reduce(0.0) { $0 + ($1.0 - meanDelta) * ($1.1 - meanChange) }
        let deltaSquares = deltas.reduce(0.0) { $0 + ($1 - meanDelta) * ($1 - meanDelta) }
        let gain = max(0.05, covariance / max(1e-12, deltaSquares))
        let leftover = zip(deltas, changes).map { Float($0.1 - meanChange - gain * ($0.0 - meanDelta)) }
        return (gain, withinGroupVariance(leftover, groups: leftover.map { _ in 0 }) / 2)
    }

    /// Median of the pairwise slopes (Theil–Sen; every k-th pair when there are more than
    /// 200,000): a slope that a few stray points do not move. 0 without two distinct x.
    static func theilSen(_ x: [Double], _ y: [Double]) -> Double {
        var slopes: [Double] = []
        let n = x.count, stride = max(1, n * (n - 1) / 2 / 200_000)
        var k = 0
        for i in 0..<n { for j in (i + 1)..<n {
            k += 1
            if k % stride == 0, abs(x[j] - x[i]) > 1e-9 { slopes.append((y[j] - y[i]) / (x[j] - x[i])) }
        } }
        guard !slopes.isEmpty else { return 0 }
        slopes.sort()
        return slopes[slopes.count / 2]
    }

    /// Pooled variance of `values` about each group's own mean.
    static func withinGroupVariance(_ values: [Float], groups: [Int]) -> Double {
        var sums: [Int: (Double, Double, Int)] = [:]
        for (v, g) in zip(values, groups) {
            let s = sums[g] ?? (0, 0, 0)
            sums[g] = (s.0 + Double(v), s.1 + Double(v) * Double(v), s.2 + 1)
        }
        var squares = 0.0, count = 0
        for (sum, sumSquares, n) in sums.values where n > 1 {
            squares += sumSquares - sum * sum / Double(n)
            count += n - 1
        }
        return count == 0 ? 0 : squares / Double(count)
    }

    /// Mean resultant length of angles about each group's own mean direction, pooled. A
    /// sample's R overstates its law's: for n angles E[R²] = ρ² + (1 − ρ²)/n, so n uniform
    /// angles have R near 1/√n (0.1 for a class of 100: ±166° where the whole circle is
    /// true); each group's R² is taken as (n·R² − 1)/(n − 1), at least 0.
    static func meanResultantLength(_ angles: [Float], groups: [Int]) -> Double {
        var sums: [Int: (Double, Double, Int)] = [:]
        for (a, g) in zip(angles, groups) {
            let s = sums[g] ?? (0, 0, 0)
            sums[g] = (s.0 + Double(cos(a)), s.1 + Double(sin(a)), s.2 + 1)
        }
        let total = sums.values.reduce(0) { $0 + $1.2 }
        return sums.values.reduce(0.0) { pooled, group in
            let (cosines, sines, count) = (group.0, group.1, Double(group.2))
            guard count > 1 else { return pooled + count }
            let square = (cosines * cosines + sines * sines) / (count * count)
            return pooled + count * max(0, (count * square - 1) / (count - 1)).squareRoot()
        } / Double(max(1, total))
    }

    /// Whether the angles could be uniform on the circle within each group: Rayleigh's test
    /// pooled over the groups, 2·Σ n_g·R_g² below the 95th percentile of χ² with 2 degrees of
    /// freedom per group (Wilson–Hilferty's approximation). Uniform angles pass 19 times in 20;
    /// spread within ±165° or less fails at a thousand angles.
    static func consistentWithTheWholeCircle(_ angles: [Float], groups: [Int]) -> Bool {
        var sums: [Int: (Double, Double, Int)] = [:]
        for (a, g) in zip(angles, groups) {
            let s = sums[g] ?? (0, 0, 0)
            sums[g] = (s.0 + Double(cos(a)), s.1 + Double(sin(a)), s.2 + 1)
        }
        let groupsRead = sums.values.filter { $0.2 > 1 }
        guard !groupsRead.isEmpty else { return false }
        let statistic = groupsRead.reduce(0.0) { $0 + 2 * ($1.0 * $1.0 + $1.1 * $1.1) / Double($1.2) }
        return statistic < chiSquareQuantile95(degreesOfFreedom: Double(2 * groupsRead.count))
    }

    /// The 95th percentile of χ² with `k` degrees of freedom (Wilson–Hilferty's approximation).
    static func chiSquareQuantile95(degreesOfFreedom k: Double) -> Double {
        k * pow(1 - 2 / (9 * k) + 1.6449 * (2 / (9 * k)).squareRoot(), 3)
    }

    /// a ∈ [0, π] with sin a / a = R (uniform angles in ±a have mean resultant length R).
    static func uniformHalfWidth(meanResultantLength r: Double) -> Float {
        guard r < 1 else { return 0 }
        guard r > 0 else { return .pi }
        var (low, high) = (0.0, Double.pi)
        for _ in 0..<60 {
            let middle = (low + high) / 2
            if sin(middle) / middle > r { low = middle } else { high = middle }
        }
        return Float((low + high) / 2)
    }
}
