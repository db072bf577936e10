// Package bench is optraj's benchmark suite on real data, with the peer
// programs that it runs side by side on the same machine and in the same
// run. It has no library code: the benchmarks are in bench_test.go, the
// peers in peers/, and run.sh (what `make bench` calls) runs them all and
// prints a table.
//
// The workload is the one a user of HyDRA meets first: a 784→128→10 MLP
// trained on MNIST (60,000 points) in batches of 128 by SGD with momentum
// 0.9 and weight decay 5·10⁻⁴, then first-order HyDRA scores of every
// training point against the mean test loss and against its own loss.
//
//	BenchmarkTrainEpoch       one epoch of train.Train, s/epoch and GFLOP/s
//	BenchmarkFirstOrderHyDRA  influence.FirstOrder over a one-epoch
//	                          trajectory, and its ratio to the training time
//	BenchmarkPeerTorch        the same training in PyTorch (peers/torch_mlp.py)
//	BenchmarkPeerTorchHyDRA   the same scoring in PyTorch
//
// The data come from scripts/fetch-mnist.sh (`make data`) and the PyTorch
// peer from scripts/install-peers.sh; a benchmark whose data or peer is
// missing is skipped with the reason.
package bench
