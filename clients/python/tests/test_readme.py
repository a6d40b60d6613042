"""The README's complete example is examples/consumer.py, which test_integration.py runs."""

from __future__ import annotations

import os
import unittest

from support import PACKAGE


class ReadmeTests(unittest.TestCase):
    def test_the_readme_shows_the_example_consumer_as_it_is(self) -> None:
        with open(os.path.join(PACKAGE, "README.md")) as readme:
            text = readme.read()
        section = text.split("## A complete example consumer", 1)[1]
        block = section.split("```python\n", 1)[1].split("```", 1)[0]
        with open(os.path.join(PACKAGE, "examples", "consumer.py")) as example:
            self.assertEqual(block, example.read())


if __name__ == "__main__":
    unittest.main()
