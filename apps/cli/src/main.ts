console.error('usage: loupe forward|attribute|intervene|train-dictionary ...');
process.exit(2);
