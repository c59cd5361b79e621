"""Metainfo keys that carry a sample's vocabulary into its data sample.

The stock ``PackDetInputs`` / ``PackSegInputs`` copy every key listed in
their ``meta_keys`` from the results dict into the data sample's metainfo,
so extending ``meta_keys`` by :data:`TEXT_META_KEYS` is all it takes for the
texts to reach the model; stock ``pseudo_collate`` keeps one metainfo per
sample, no custom collate function is needed. See ``docs/design.md`` §2.
"""

#: The vocabulary keys (``docs/design.md`` §2): ``text`` (entry ``i`` is
#: class ``i`` of this sample), ``text_mask`` (False for padding),
#: ``text_label_ids`` (dataset class id per entry, -1 for padding or
#: phrases) and ``custom_entities`` (mmdet's flag: ``text`` is a list of
#: entities).
TEXT_META_KEYS = ('text', 'text_mask', 'text_label_ids', 'custom_entities')

#: ``PackDetInputs``' default ``meta_keys`` (mmdet 3.3) + the text keys.
DET_TEXT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                      'scale_factor', 'flip',
                      'flip_direction') + TEXT_META_KEYS

#: ``PackSegInputs``' default ``meta_keys`` (mmseg 1.2) + the text keys.
SEG_TEXT_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                      'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                      'reduce_zero_label') + TEXT_META_KEYS
