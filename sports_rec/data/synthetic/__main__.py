"""``python -m sports_rec.data.synthetic FORMAT --out DIR [...]``: write a synthetic dataset."""

from sports_rec.data.synthetic.cli import main

if __name__ == "__main__":
    main()
