"""length_sorted_batches: longest first, ties in input order, every index once, a bad size refused."""

import numpy as np
import pytest

from lightretriever.components.batching import length_sorted_batches
from lightretriever.components.errors import InvalidArgumentError


def test_longest_first_ties_in_input_order_every_index_once():
    lengths = [3, 5, 3, 1, 5, 2]
    batches = [b.tolist() for b in length_sorted_batches(lengths, 4)]
    # the order the three encoder loops had: sorted(range(n), key=lambda i: -lengths[i])
    assert batches == [[1, 4, 0, 2], [5, 3]]
    assert sum(batches, []) == sorted(range(len(lengths)), key=lambda i: -lengths[i])


def test_results_written_at_batch_indices_come_back_in_input_order():
    lengths = np.array([4, 9, 1, 9, 6])
    out = np.zeros(len(lengths), dtype=np.int64)
    for batch in length_sorted_batches(lengths, 2):
        out[batch] = lengths[batch] * 10
    np.testing.assert_array_equal(out, lengths * 10)


def test_empty_input_and_bad_batch_size():
    assert list(length_sorted_batches([], 8)) == []
    with pytest.raises(InvalidArgumentError, match="batch_size must be a whole number >= 1, got 0"):
        list(length_sorted_batches([1, 2], 0))
