document.getElementById("back")?.addEventListener("click", () => history.back());
