#include "catalog/sqlite_db.h"

namespace kiln {

SqliteStmt& SqliteStmt::Bind(int idx, std::string_view v) {
  sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int idx, int64_t v) {
  sqlite3_bind_int64(stmt_, idx, v);
  return *this;
}

SqliteStmt& SqliteStmt::BindNull(int idx) {
  sqlite3_bind_null(stmt_, idx);
  return *this;
}

Result<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ErrorCode code = ErrorCode::kIO;
  if (rc == SQLITE_CONSTRAINT) code = ErrorCode::kConflict;
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) code = ErrorCode::kBusy;
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) code = ErrorCode::kCorruption;
  return Error(code, std::string("catalog: ") + sqlite3_errmsg(db_));
}

Status SqliteStmt::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Ok();
  }
}

std::string SqliteStmt::Text(int col) const {
  const unsigned char* t = sqlite3_column_text(stmt_, col);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

int64_t SqliteStmt::Int(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

bool SqliteStmt::IsNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

Result<SqliteDb> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error(ErrorCode::kIO, "open catalog " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  SqliteDb out(db);
  // WAL with synchronous=FULL: a committed transaction survives power loss.
  TRY(out.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return out;
}

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close(db_);
}

Error SqliteDb::LastError(std::string_view what) const {
  return Error(ErrorCode::kIO, "catalog: " + std::string(what) + ": " + sqlite3_errmsg(db_));
}

Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error(ErrorCode::kIO, "catalog: " + msg);
  }
  return Ok();
}

Result<SqliteStmt> SqliteDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK)
    return LastError("prepare");
  return SqliteStmt(db_, stmt);
}

Result<SqliteTxn> SqliteTxn::Begin(SqliteDb& db) {
  TRY(db.Exec("BEGIN IMMEDIATE"));
  return SqliteTxn(&db);
}

SqliteTxn::~SqliteTxn() {
  if (db_) (void)db_->Exec("ROLLBACK");
}

Status SqliteTxn::Commit() {
  TRY(db_->Exec("COMMIT"));
  db_ = nullptr;
  return Ok();
}

}  // namespace kiln
