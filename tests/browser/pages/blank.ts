// A page of the same origin to navigate to (back/forward cache test).
document.body.dataset.ready = 'true';
