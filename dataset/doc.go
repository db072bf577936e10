// Package dataset holds the data that optraj learns from: readers for the
// real data sets, label-noise injection, and small synthetic sets for tests
// that must run without fetched data.
//
// Every set loads into a Set: N examples of D float32 features each, row
// major, with int32 labels in [0, Classes).
//
// MNIST and Fashion-MNIST come as IDX files, the big-endian array format
// that ReadIDX decodes (plain or gzip-compressed, told apart by the gzip
// magic bytes). LoadMNIST reads the four standard files from a folder that
// `make data` (scripts/fetch-mnist.sh) fills; LoadIDXPair reads any
// image/label pair in the same format.
//
// FlipLabels corrupts a chosen fraction of labels, the usual test bed for
// finding mislabelled training points by attribution. All randomness in the
// package is seeded by the caller.
package dataset
