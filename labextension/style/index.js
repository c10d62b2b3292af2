import './base.css';
import './tools.css';
import './context.css';
import './models.css';
